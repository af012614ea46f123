/**
 * The realtime wire protocol: what clients may send and what the hub sends back. Pure (no I/O).
 * Rules enforced here:
 * - two input syntaxes, one meaning: seed 004's text commands (`/send_to <client_id> <message>`,
 *   `/group <message>`, `/join <group>`; plain text = `/group`) and JSON objects (`{"type": …}`);
 * - everything the hub sends is one JSON object per text frame, with a `type`;
 * - client ids and group names are 1–64 characters of [A-Za-z0-9_.-] (they become Redis keys and
 *   uWS topics, so nothing else is accepted);
 * - message text follows the shared text rule (src/http/input.ts `text`, as REST messages do): no
 *   NUL or other control characters (tab, LF, CR allowed), no unpaired surrogates → `bad_text`;
 * - bad input yields a `{type:"error", code}` frame, never an exception.
 */
import { isSafeText } from '../http/input';

export const NAME_RE = /^[A-Za-z0-9_.-]{1,64}$/;
export const isName = (v: unknown): v is string => typeof v === 'string' && NAME_RE.test(v);

/** The subprotocol a client offers beside `bearer.<access token>`; the hub always answers with it. */
export const SUBPROTOCOL = 'authledger.v1';
export const BEARER_PROTOCOL_PREFIX = 'bearer.';

export type ClientCommand =
  | { type: 'send_to'; to: string; text: string; id?: string }
  | { type: 'group'; text: string; id?: string }
  | { type: 'join'; group: string; id?: string }
  | { type: 'leave'; id?: string }
  | { type: 'ping'; id?: string }
  | { type: 'list_members'; group?: string; id?: string }
  | { type: 'list_groups'; id?: string }
  | { type: 'subscribe'; channel: 'audit'; id?: string }
  | { type: 'unsubscribe'; channel: 'audit'; id?: string };

/** Who sent a message: a client id over a socket; over REST the acting user (`{admin}` for admins). */
export type Sender = string | { admin: string } | { user: string } | null;

export type ParseResult = { ok: true; command: ClientCommand } | { ok: false; code: string; message: string; id?: string };

const fail = (code: string, message: string, id?: string): ParseResult => ({ ok: false, code, message, ...(id ? { id } : {}) });

const BAD_TEXT = 'Messages must not contain control characters (other than tab and line breaks) or unpaired surrogates.';

/** A parsed command whose text breaks the shared text rule becomes a `bad_text` refusal. */
function checked(r: ParseResult): ParseResult {
  if (!r.ok || (r.command.type !== 'group' && r.command.type !== 'send_to') || isSafeText(r.command.text)) return r;
  return fail('bad_text', BAD_TEXT, r.command.id);
}

/** Splits off the first whitespace-delimited word. */
function firstWord(s: string): [string, string] {
  const m = /^(\S+)\s?([\s\S]*)$/.exec(s);
  return m ? [m[1]!, m[2]!] : ['', ''];
}

export function parseText(raw: string): ParseResult {
  if (raw.length === 0) return fail('empty_message', 'Empty message.');
  if (raw[0] !== '/') return { ok: true, command: { type: 'group', text: raw } };
  const [cmd, rest] = firstWord(raw);
  switch (cmd) {
    case '/group':
      if (!rest.trim()) return fail('bad_command', 'Usage: /group <message>');
      return { ok: true, command: { type: 'group', text: rest } };
    case '/send_to': {
      const [to, text] = firstWord(rest);
      if (!to || !text.trim()) return fail('bad_command', 'Usage: /send_to <client_id> <message>');
      if (!isName(to)) return fail('bad_client_id', 'Client ids are 1-64 characters of A-Z a-z 0-9 _ . -');
      return { ok: true, command: { type: 'send_to', to, text } };
    }
    case '/join': {
      const group = rest.trim();
      if (!isName(group)) return fail('bad_group', 'Usage: /join <group> (1-64 characters of A-Z a-z 0-9 _ . -)');
      return { ok: true, command: { type: 'join', group } };
    }
    case '/leave':
      return { ok: true, command: { type: 'leave' } };
    case '/members':
      return { ok: true, command: { type: 'list_members' } };
    case '/groups':
      return { ok: true, command: { type: 'list_groups' } };
    default:
      return fail('unknown_command', `Unknown command ${cmd.slice(0, 32)}. Commands: /send_to, /group, /join, /leave, /members, /groups.`);
  }
}

export function parseJson(raw: string): ParseResult {
  let v: unknown;
  try {
    v = JSON.parse(raw);
  } catch {
    return fail('bad_json', 'The message is not valid JSON.');
  }
  if (typeof v !== 'object' || v === null || Array.isArray(v)) return fail('bad_message', 'A JSON message is an object with a "type".');
  const o = v as Record<string, unknown>;
  const id = typeof o.id === 'string' && o.id.length <= 64 ? o.id : undefined;
  const idPart = id ? { id } : {};
  const text = (k: string) => (typeof o[k] === 'string' && (o[k] as string).length > 0 ? (o[k] as string) : undefined);
  switch (o.type) {
    case 'send_to': {
      const to = o.to ?? o.client_id;
      const body = text('text') ?? text('message');
      if (!isName(to)) return fail('bad_client_id', '"to" must be a client id.', id);
      if (!body) return fail('bad_message', '"text" must be a non-empty string.', id);
      return { ok: true, command: { type: 'send_to', to, text: body, ...idPart } };
    }
    case 'group':
    case 'group_message': {
      const body = text('text') ?? text('message');
      if (!body) return fail('bad_message', '"text" must be a non-empty string.', id);
      return { ok: true, command: { type: 'group', text: body, ...idPart } };
    }
    case 'join':
      if (!isName(o.group)) return fail('bad_group', '"group" must be 1-64 characters of A-Z a-z 0-9 _ . -', id);
      return { ok: true, command: { type: 'join', group: o.group, ...idPart } };
    case 'leave':
      return { ok: true, command: { type: 'leave', ...idPart } };
    case 'ping':
      return { ok: true, command: { type: 'ping', ...idPart } };
    case 'list_members':
      if (o.group !== undefined && !isName(o.group)) return fail('bad_group', '"group" must be a group name.', id);
      return { ok: true, command: { type: 'list_members', ...(o.group ? { group: o.group as string } : {}), ...idPart } };
    case 'list_groups':
      return { ok: true, command: { type: 'list_groups', ...idPart } };
    case 'subscribe':
    case 'unsubscribe':
      if (o.channel !== 'audit') return fail('bad_channel', 'The only channel is "audit".', id);
      return { ok: true, command: { type: o.type, channel: 'audit', ...idPart } };
    default:
      return fail('unknown_type', 'Unknown "type".', id);
  }
}

/** One incoming text frame → a command. JSON when it starts with `{`, text syntax otherwise. */
export function parseMessage(raw: string): ParseResult {
  return checked(raw.charCodeAt(0) === 123 /* { */ ? parseJson(raw) : parseText(raw));
}

/** Frames the hub sends (documented in docs/realtime.md). */
export const frames = {
  error: (code: string, message: string, id?: string) => JSON.stringify({ type: 'error', code, message, ...(id ? { id } : {}) }),
  /** `via: "api"` marks messages sent through REST (`from` is then null). */
  groupMessage: (group: string, from: Sender, via: 'socket' | 'api', text: string) =>
    JSON.stringify({ type: 'group_message', group, from, ...(via === 'api' ? { via } : {}), text, ts: Date.now() }),
  directMessage: (to: string, from: Sender, via: 'socket' | 'api', text: string) =>
    JSON.stringify({ type: 'direct_message', to, from, ...(via === 'api' ? { via } : {}), text, ts: Date.now() }),
};

/**
 * Redacts secrets from event data before it reaches the admin audit feed: every field whose name
 * ends in hash, token, secret, password, pepper or key (but not `…Id`) becomes "[redacted]".
 */
const SECRET_FIELD = /(hash|token|secret|password|pepper|key|code)$/i;
export function redact(value: unknown, depth = 0): unknown {
  if (depth > 6 || value === null || typeof value !== 'object') return value;
  if (Array.isArray(value)) return value.map((v) => redact(v, depth + 1));
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(value as Record<string, unknown>)) {
    out[k] = SECRET_FIELD.test(k) && !/Id$/.test(k) ? '[redacted]' : redact(v, depth + 1);
  }
  return out;
}
