import { describe, expect, it } from 'vitest';
import { isName, parseMessage, redact } from '../../src/realtime/protocol';

describe('text commands (seed 004 syntax)', () => {
  it('parses /send_to, /group, /join and the extras', () => {
    expect(parseMessage('/send_to bob hello there')).toEqual({ ok: true, command: { type: 'send_to', to: 'bob', text: 'hello there' } });
    expect(parseMessage('/group hi  all ')).toEqual({ ok: true, command: { type: 'group', text: 'hi  all ' } });
    expect(parseMessage('/join lobby')).toEqual({ ok: true, command: { type: 'join', group: 'lobby' } });
    expect(parseMessage('/leave')).toEqual({ ok: true, command: { type: 'leave' } });
    expect(parseMessage('/members')).toEqual({ ok: true, command: { type: 'list_members' } });
    expect(parseMessage('/groups')).toEqual({ ok: true, command: { type: 'list_groups' } });
    expect(parseMessage('just chatting')).toEqual({ ok: true, command: { type: 'group', text: 'just chatting' } });
  });
  it('refuses malformed commands with a code', () => {
    for (const [raw, code] of [
      ['', 'empty_message'], ['/send_to', 'bad_command'], ['/send_to bob', 'bad_command'], ['/send_to bad/id hi', 'bad_client_id'],
      ['/group', 'bad_command'], ['/group    ', 'bad_command'], ['/join', 'bad_group'], ['/join a b', 'bad_group'], ['/nope', 'unknown_command'],
    ] as const) {
      const r = parseMessage(raw);
      expect(r.ok ? 'ok' : r.code, raw).toBe(code);
    }
  });
});

describe('JSON protocol', () => {
  it('parses each type and keeps the correlation id', () => {
    expect(parseMessage('{"type":"send_to","to":"bob","text":"x","id":"1"}')).toEqual({ ok: true, command: { type: 'send_to', to: 'bob', text: 'x', id: '1' } });
    expect(parseMessage('{"type":"send_to","client_id":"bob","message":"x"}')).toEqual({ ok: true, command: { type: 'send_to', to: 'bob', text: 'x' } });
    expect(parseMessage('{"type":"group_message","text":"x"}')).toEqual({ ok: true, command: { type: 'group', text: 'x' } });
    expect(parseMessage('{"type":"join","group":"g"}')).toEqual({ ok: true, command: { type: 'join', group: 'g' } });
    expect(parseMessage('{"type":"list_members","group":"g"}')).toEqual({ ok: true, command: { type: 'list_members', group: 'g' } });
    expect(parseMessage('{"type":"subscribe","channel":"audit"}')).toEqual({ ok: true, command: { type: 'subscribe', channel: 'audit' } });
  });
  it('refuses bad JSON and bad fields', () => {
    for (const [raw, code] of [
      ['{', 'bad_json'], ['{"type":1}', 'unknown_type'], ['{"type":"send_to","to":"a b","text":"x"}', 'bad_client_id'],
      ['{"type":"send_to","to":"b"}', 'bad_message'], ['{"type":"join"}', 'bad_group'], ['{"type":"subscribe","channel":"all"}', 'bad_channel'],
      ['{"type":"group","text":""}', 'bad_message'],
    ] as const) {
      const r = parseMessage(raw);
      expect(r.ok ? 'ok' : r.code, raw).toBe(code);
    }
    const r = parseMessage('{"type":"join","id":"c7"}');
    expect(!r.ok && r.id).toBe('c7');
  });
});

describe('names and redaction', () => {
  it('accepts only safe client ids and group names', () => {
    expect(isName('alice-1.x_y')).toBe(true);
    for (const bad of ['', 'a b', 'a/b', 'a:b', 'x'.repeat(65), 'é']) expect(isName(bad), bad).toBe(false);
  });
  it('redacts secret-looking fields at any depth, keeps ids', () => {
    expect(redact({ userId: 'u', refreshTokenHash: 'h', tokenId: 't', nested: { passwordHash: 'p', apiKey: 'k', keyId: 'k1' }, list: [{ secret: 's' }] }))
      .toEqual({ userId: 'u', refreshTokenHash: '[redacted]', tokenId: 't', nested: { passwordHash: '[redacted]', apiKey: '[redacted]', keyId: 'k1' }, list: [{ secret: '[redacted]' }] });
  });
});
