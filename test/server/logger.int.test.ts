/** LOG_DIR files (seed 003: app.log + error.log) and redaction, with the real logger. */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { spawnSync } from 'node:child_process';
import { createLogger, LOG_BATCH, redactUrl, SECRET_NAMES } from '../../src/infra/logger';
import { captureStream, until } from './helpers';

const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'authledger-logs-'));
afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

const readLines = (f: string) => (fs.existsSync(f) ? fs.readFileSync(f, 'utf8').split('\n').filter(Boolean).map((l) => JSON.parse(l)) : []);

describe('logger', () => {
  it('LOG_DIR gets app.log with every line and error.log with errors only', async () => {
    const log = createLogger({ LOG_LEVEL: 'info', LOG_DIR: dir, NODE_ENV: 'test' }, { stream: captureStream().stream });
    log.info({ request_id: 'r1' }, 'an info line');
    log.warn('a warning');
    log.error({ err: new Error('kaput') }, 'an error line');
    log.flush();
    const app = path.join(dir, 'app.log');
    const err = path.join(dir, 'error.log');
    await until('app.log has 3 lines', () => readLines(app).length >= 3, 5000);
    await until('error.log has a line', () => readLines(err).length >= 1, 5000);
    const appLines = readLines(app);
    expect(appLines.map((l) => l.msg)).toEqual(['an info line', 'a warning', 'an error line']);
    expect(appLines[0].request_id).toBe('r1');
    const errLines = readLines(err);
    expect(errLines.map((l) => l.msg)).toEqual(['an error line']);
    expect(errLines[0].err.message).toBe('kaput');
  });

  it('batched destinations: a lone line arrives within the flush interval, unflushed; a line logged just before process.exit is written', async () => {
    const sub = fs.mkdtempSync(path.join(dir, 'batch-'));
    const log = createLogger({ LOG_LEVEL: 'info', LOG_DIR: sub, NODE_ENV: 'test' }, { stream: captureStream().stream });
    const file = path.join(sub, 'app.log');
    const t0 = Date.now();
    log.info('alone'); // far below minLength: only the periodic flush writes it
    await until('app.log has the lone line', () => readLines(file).length >= 1, 5000);
    expect(Date.now() - t0).toBeLessThan(LOG_BATCH.flushMs + 2000); // + room for a loaded machine
    expect(readLines(file).map((l) => l.msg)).toEqual(['alone']);

    // A real process (its files open, as in a running server) that logs and exits at once: pino's
    // exit handler writes the buffers synchronously, to stdout and to the file.
    const exitDir = fs.mkdtempSync(path.join(dir, 'exit-'));
    const script = `import { createLogger } from './src/infra/logger.ts';
const log = createLogger({ LOG_LEVEL: 'info', LOG_DIR: process.env.EXIT_LOG_DIR, NODE_ENV: 'test' });
setTimeout(() => {
  for (let i = 0; i < 3; i++) log.info({ i }, 'before exit');
  process.exit(0);
}, 500);`;
    const res = spawnSync(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', script], { cwd: path.resolve(__dirname, '../..'), encoding: 'utf8', env: { ...process.env, EXIT_LOG_DIR: exitDir } });
    expect(res.status, res.stderr).toBe(0);
    expect(readLines(path.join(exitDir, 'app.log')).map((l) => l.i)).toEqual([0, 1, 2]);
    expect(res.stdout.split('\n').filter((l) => l.includes('before exit'))).toHaveLength(3);

    // A process that logs and exits in the same tick, before an asynchronous open could finish
    // (a CLI command, a start that fails at once): no crash, and the line is in the file.
    const quickDir = fs.mkdtempSync(path.join(dir, 'quick-'));
    const quick = `import { createLogger } from './src/infra/logger.ts';
const log = createLogger({ LOG_LEVEL: 'info', LOG_DIR: process.env.EXIT_LOG_DIR, NODE_ENV: 'test' });
log.error({ i: 7 }, 'at once');
process.exit(3);`;
    const q = spawnSync(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', quick], { cwd: path.resolve(__dirname, '../..'), encoding: 'utf8', env: { ...process.env, EXIT_LOG_DIR: quickDir } });
    expect(q.stderr).not.toContain('not ready');
    expect(q.status, q.stderr).toBe(3);
    expect(readLines(path.join(quickDir, 'app.log')).map((l) => l.i)).toEqual([7]);
    expect(readLines(path.join(quickDir, 'error.log')).map((l) => l.i)).toEqual([7]);
  });

  it('redacts secrets at the top level and nested, and credential query values in URLs', () => {
    const cap = captureStream();
    const log = createLogger({ LOG_LEVEL: 'info', NODE_ENV: 'test' }, { stream: cap.stream });
    log.info({
      password: 'p-top',
      body: { new_password: 'p-nested', refresh_token: 'rt-1', profile: { api_key: 'alk_deep' } },
      headers: { authorization: 'Bearer at-1', cookie: 'refresh=rt-2' },
      token: 'tok-top',
      req: { method: 'GET', url: '/ws?ticket=tk-1&group=a', headers: { authorization: 'Bearer at-2' } },
    }, 'payload');
    log.flush();
    const text = JSON.stringify(cap.lines);
    for (const secret of ['p-top', 'p-nested', 'rt-1', 'alk_deep', 'at-1', 'rt-2', 'tok-top', 'tk-1', 'at-2']) expect(text).not.toContain(secret);
    expect(cap.lines[0]!.req).toMatchObject({ method: 'GET', url: '/ws?ticket=[redacted]&group=a' });
    expect(text).toContain('[redacted]');
  });

  it('redacts every secret name at any depth, in any letter case, in arrays, class instances, errors and child bindings; keeps the rest', () => {
    const cap = captureStream();
    const log = createLogger({ LOG_LEVEL: 'info', NODE_ENV: 'test' }, { stream: cap.stream });
    // Values that are not credential-shaped: only the field name can give them away.
    const secrets: string[] = [];
    const value = (name: string, where: string) => {
      const v = `s3cret-${where}-${name}`;
      secrets.push(v);
      return v;
    };
    class Holder {
      constructor(readonly inner: Record<string, unknown>) {}
    }
    for (const name of SECRET_NAMES) {
      const upper = name.toUpperCase();
      const err = Object.assign(new Error('request failed'), { config: { headers: { [name]: value(name, 'err') } } });
      const nested = Object.assign(new Error('inner'), { [name]: value(name, 'nested-error') });
      log.child({ [name]: value(name, 'binding'), component: 'c' }).warn({
        [name]: value(name, 'top'),
        a: { [upper]: value(name, 'depth2-upper') },
        b: { c: { d: { e: { [name]: value(name, 'depth5') } } } },
        list: [{ [name]: value(name, 'array') }],
        holder: new Holder({ [name]: value(name, 'instance') }),
        cause: nested,
        err,
        to: 'someone@example.com',
        at: new Date('2026-12-03T00:00:00.000Z'),
      }, 'payload');
    }
    log.flush();
    expect(cap.lines).toHaveLength(SECRET_NAMES.size);
    const text = JSON.stringify(cap.lines);
    for (const secret of secrets) expect(text).not.toContain(secret);
    for (const line of cap.lines) {
      expect(line).toMatchObject({ to: 'someone@example.com', at: '2026-12-03T00:00:00.000Z', component: 'c', msg: 'payload' });
      expect(line.err).toMatchObject({ message: 'request failed' });
      expect(line.cause).toMatchObject({});
    }
    expect(SECRET_NAMES.has('x-api-key') && SECRET_NAMES.has('password') && SECRET_NAMES.has('authorization')).toBe(true);
  });

  it('redactUrl keeps harmless parameters', () => {
    expect(redactUrl('/a?x=1&access_token=abc&code=zz&q=hi')).toBe('/a?x=1&access_token=[redacted]&code=[redacted]&q=hi');
    expect(redactUrl('/plain')).toBe('/plain');
  });
});
