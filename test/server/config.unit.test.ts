import fs from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { configSchema, loadConfig, unsafeDefaults } from '../../src/config';
import { configKeys, renderConfigTable, renderEnvExample, staleConfigDocs, withConfigTable, CONFIG_TABLE_END, CONFIG_TABLE_START } from '../../src/config-doc';
import { ROOT } from './helpers';

describe('configuration schema and its generated docs', () => {
  it('every key has a description', () => {
    for (const [name, schema] of Object.entries(configSchema.shape)) {
      expect((schema as { description?: string }).description, name).toBeTruthy();
    }
  });

  it('.env.example and the README table match the schema (run `npm run cli -- config-doc` to fix)', () => {
    expect(staleConfigDocs(ROOT)).toEqual([]);
    // and the committed files really contain every key
    const env = fs.readFileSync(path.join(ROOT, '.env.example'), 'utf8');
    const readme = fs.readFileSync(path.join(ROOT, 'README.md'), 'utf8');
    for (const key of Object.keys(configSchema.shape)) {
      expect(env).toMatch(new RegExp(`^# ${key}=`, 'm'));
      expect(readme).toContain(`| \`${key}\` |`);
    }
  });

  it('detects drift: a key missing from the table is reported', () => {
    const keys = configKeys();
    const readme = `# x\n${CONFIG_TABLE_START}\n${renderConfigTable(keys.slice(1))}\n${CONFIG_TABLE_END}\n`;
    expect(withConfigTable(readme)).not.toBe(readme);
    expect(renderEnvExample(keys.slice(1))).not.toBe(renderEnvExample());
  });

  it('renders defaults and enum values', () => {
    const port = configKeys().find((k) => k.name === 'PORT')!;
    expect(port.defaultValue).toBe('8000');
    const store = configKeys().find((k) => k.name === 'EVENT_STORE')!;
    expect(store.values).toEqual(['postgres', 'eventstoredb']);
    expect(renderEnvExample()).toContain('# DATABASE_URL=postgres://postgres:postgres@127.0.0.1:5432/authledger');
  });

  it('defaults match the issue: port 8000, local trust-auth DATABASE_URL, all roles', () => {
    const c = loadConfig({});
    expect(c.PORT).toBe(8000);
    expect(c.DATABASE_URL).toBe('postgres://postgres:postgres@127.0.0.1:5432/authledger');
    expect([...c.ROLES].sort()).toEqual(['api', 'projector', 'realtime', 'worker']);
    expect(c.EVENT_STORE).toBe('postgres');
  });

  it('ROLES accepts any subset and rejects unknown roles', () => {
    expect([...loadConfig({ ROLES: 'api' }).ROLES]).toEqual(['api']);
    expect([...loadConfig({ ROLES: ' worker , projector ' }).ROLES]).toEqual(['worker', 'projector']);
    expect([...loadConfig({ ROLES: 'api,gateway' }).ROLES]).toEqual(['api', 'gateway']);
    expect(() => loadConfig({ ROLES: 'api,proxy' })).toThrow(/ROLES/);
  });

  it('invalid values are refused with the key named', () => {
    expect(() => loadConfig({ PORT: 'eighty' })).toThrow(/PORT/);
    expect(() => loadConfig({ EVENT_STORE: 'mongo' })).toThrow(/EVENT_STORE/);
  });

  it('unsafe defaults are listed with what to set', () => {
    const unsafe = unsafeDefaults(loadConfig({}));
    expect(unsafe.join('\n')).toMatch(/JWT_PRIVATE_KEYS/);
    expect(unsafe.join('\n')).toMatch(/CORS_ORIGINS/);
    expect(unsafe.join('\n')).toMatch(/ADMIN_EMAIL/);
  });
});

describe('TRUST_PROXY parsing', () => {
  it('accepts false/true, a hop count, or a list of addresses', async () => {
    const { parseTrustProxy } = await import('../../src/http/app');
    expect(parseTrustProxy('false')).toBe(false);
    expect(parseTrustProxy('')).toBe(false);
    expect(parseTrustProxy('TRUE')).toBe(true);
    expect(parseTrustProxy('2')).toBe(2);
    expect(parseTrustProxy('10.0.0.0/8, 127.0.0.1')).toEqual(['10.0.0.0/8', '127.0.0.1']);
  });
});
