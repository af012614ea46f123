/** The request log context is on only while a request is in it (src/http/request-context.ts). */
import { EventEmitter } from 'node:events';
import type { ServerResponse } from 'node:http';
import { describe, expect, it } from 'vitest';
import { logContext } from '../../src/infra/logger';
import { requestsInContext, runInRequestContext } from '../../src/http/request-context';

const response = () => new EventEmitter() as unknown as ServerResponse;
const enabled = () => (logContext as unknown as { enabled: boolean }).enabled;
const tick = () => new Promise((r) => setTimeout(r, 1));

describe('request context', () => {
  it('keeps each request its own context while others close, and switches off when none is left', async () => {
    const a = response();
    const b = response();
    const seen: Array<string | undefined> = [];
    let bDone!: Promise<void>;
    runInRequestContext('a', a, () => undefined);
    runInRequestContext('b', b, () => {
      bDone = (async () => {
        await tick();
        seen.push(logContext.getStore()?.request_id);
        a.emit('close');
        await tick();
        seen.push(logContext.getStore()?.request_id);
      })();
    });
    expect(requestsInContext()).toBe(2);
    await bDone;
    expect(seen).toEqual(['b', 'b']);
    expect(requestsInContext()).toBe(1);
    expect(enabled()).toBe(true);
    b.emit('close');
    expect(requestsInContext()).toBe(0);
    expect(enabled()).toBe(false);
    expect(logContext.getStore()).toBeUndefined();
    // A later request switches it on again.
    const c = response();
    let inC: string | undefined;
    runInRequestContext('c', c, () => {
      inC = logContext.getStore()?.request_id;
    });
    expect(inC).toBe('c');
    expect(enabled()).toBe(true);
    c.emit('close');
    expect(enabled()).toBe(false);
  });
});
