/**
 * Issue 20 §5 leftovers: realtime message text follows the shared text rule of src/http/input.ts
 * (the same one REST messages use): a family of hostile strings is `bad_text` in both syntaxes,
 * while tab, line breaks and astral characters (valid surrogate pairs) pass.
 */
import { describe, expect, it } from 'vitest';
import { parseMessage } from '../../src/realtime/protocol';
import { isSafeText, text } from '../../src/http/input';

const HOSTILE = ['a\u0000b', '\u0000', 'x\u0001', 'bell\u0007', 'esc\u001b[31m', 'del\u007f', 'c1\u0085', 'c1\u009f', 'hi\ud800', '\udc00lo', 'rev\udc00\ud800', '\u0000'.repeat(50)];
const FINE = ['tab\there', 'two\nlines\r\n', 'emoji 😀 ok', 'plain', 'é ü ß 漢字'];

describe('realtime message text: the shared text rule', () => {
  it('the predicate agrees with the zod text type', () => {
    for (const s of [...HOSTILE, ...FINE]) expect(isSafeText(s), JSON.stringify(s)).toBe(text(10_000).safeParse(s).success);
  });
  it('refuses hostile text in /group, /send_to, plain text and JSON (text and message fields), keeping the id', () => {
    for (const bad of HOSTILE) {
      const frames = [
        `/group ${bad}`, `/send_to bob ${bad}`, `x${bad}`,
        JSON.stringify({ type: 'group', text: bad, id: '7' }), JSON.stringify({ type: 'group_message', message: bad, id: '7' }),
        JSON.stringify({ type: 'send_to', to: 'bob', text: bad, id: '7' }), JSON.stringify({ type: 'send_to', client_id: 'bob', message: bad, id: '7' }),
      ];
      for (const f of frames) {
        const r = parseMessage(f);
        expect(r.ok ? 'ok' : r.code, JSON.stringify(f)).toBe('bad_text');
        if (!r.ok && f.startsWith('{')) expect(r.id).toBe('7');
      }
    }
  });
  it('lets ordinary text through unchanged', () => {
    for (const ok of FINE) {
      expect(parseMessage(JSON.stringify({ type: 'group', text: ok }))).toEqual({ ok: true, command: { type: 'group', text: ok } });
      expect(parseMessage(`/send_to bob ${ok}`)).toEqual({ ok: true, command: { type: 'send_to', to: 'bob', text: ok } });
    }
  });
});
