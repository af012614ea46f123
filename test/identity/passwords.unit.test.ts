import { describe, expect, it } from 'vitest';
import { checkPasswordPolicy, hashPassword, needsRehash, passwordPolicy, verifyPassword } from '../../src/commands/identity/passwords';
import bcrypt from 'bcrypt';

const config = {
  PASSWORD_PEPPER: 'unit-test-pepper-unit-test-pepper-0123456789',
  DATA_DIR: '/tmp/authledger-unit',
  BCRYPT_COST: 4,
  PASSWORD_MIN_LENGTH: 8,
  PASSWORD_MAX_LENGTH: 256,
};

describe('password policy', () => {
  it('refuses short, overlong and common passwords, saying why', async () => {
    expect(await passwordPolicy(config, 'short')).toMatchObject({ ok: false, reason: expect.stringContaining('at least 8') });
    expect(await passwordPolicy(config, 'x'.repeat(257))).toMatchObject({ ok: false, reason: expect.stringContaining('at most 256') });
    const common = await passwordPolicy(config, 'password123');
    expect(common.ok).toBe(false);
    expect(common.reason).toBeTruthy();
    expect((await passwordPolicy(config, 'p@ssw0rd!')).ok).toBe(false);
  });

  it('refuses passwords built on the user’s own e-mail or name', async () => {
    expect((await passwordPolicy(config, 'margarethamilton', ['margaret.hamilton@nasa.test', 'Margaret Hamilton'])).ok).toBe(false);
  });

  it('accepts long passphrases and 64 emoji, with no composition rules', async () => {
    expect((await passwordPolicy(config, 'correct horse battery staple 42')).ok).toBe(true);
    expect((await passwordPolicy(config, '🦊🐙🌵🍩🚲🎻🧲🪐'.repeat(8))).ok).toBe(true);
  });

  it('checkPasswordPolicy throws a 400 weak_password problem with the reason', async () => {
    try {
      await checkPasswordPolicy(config, 'password');
      expect.unreachable();
    } catch (err) {
      expect(err).toMatchObject({ status: 400, code: 'weak_password' });
      expect((err as { extra: { reason: string } }).extra.reason).toBeTruthy();
    }
  });
});

describe('password hashing', () => {
  it('round-trips, with the HMAC-SHA-384 pre-hash scheme', async () => {
    const h = await hashPassword(config, 'correct horse battery staple 42');
    expect(h.startsWith('hmac-sha384-bcrypt$$2b$04$')).toBe(true);
    expect(await verifyPassword(config, 'correct horse battery staple 42', h)).toBe(true);
    expect(await verifyPassword(config, 'correct horse battery staple 43', h)).toBe(false);
  });

  it('a 64-emoji password (256 bytes) works, and is not truncated', async () => {
    const emoji = '🦊🐙🌵🍩🚲🎻🧲🪐'.repeat(8);
    expect([...emoji].length).toBe(64);
    expect(Buffer.byteLength(emoji)).toBe(256);
    const h = await hashPassword(config, emoji);
    expect(await verifyPassword(config, emoji, h)).toBe(true);
    expect(await verifyPassword(config, emoji.slice(0, -2) + '🐢', h)).toBe(false);
  });

  it('two passwords sharing their first 72 bytes are different passwords', async () => {
    const prefix = 'Tr0ub4dor&3-horse-battery-staple-'.padEnd(72, 'k');
    expect(Buffer.byteLength(prefix)).toBe(72);
    const h = await hashPassword(config, prefix + 'first');
    expect(await verifyPassword(config, prefix + 'first', h)).toBe(true);
    expect(await verifyPassword(config, prefix + 'second', h)).toBe(false);
    // what plain bcrypt would have done:
    const naive = await bcrypt.hash(prefix + 'first', 4);
    expect(await bcrypt.compare(prefix + 'second', naive)).toBe(true);
  });

  it('the pepper matters', async () => {
    const h = await hashPassword(config, 'correct horse battery staple 42');
    expect(await verifyPassword({ ...config, PASSWORD_PEPPER: 'another-pepper-another-pepper-0123456789' }, 'correct horse battery staple 42', h)).toBe(false);
  });

  it('unknown users cost one dummy compare and never match; legacy seed hashes verify', async () => {
    expect(await verifyPassword(config, 'anything at all', undefined)).toBe(false);
    const legacy = await bcrypt.hash('seed password 1', 4);
    expect(await verifyPassword(config, 'seed password 1', legacy)).toBe(true);
    expect(await verifyPassword(config, 'seed password 1' + 'x'.repeat(80), legacy)).toBe(false);
    expect(needsRehash(config, legacy)).toBe(true);
    expect(needsRehash({ BCRYPT_COST: 10 }, await hashPassword(config, 'correct horse battery staple 42'))).toBe(true);
  });

  it('hashing does not block the event loop', async () => {
    let ticks = 0;
    const timer = setInterval(() => ticks++, 1);
    await hashPassword({ ...config, BCRYPT_COST: 10 }, 'correct horse battery staple 42');
    clearInterval(timer);
    expect(ticks).toBeGreaterThan(5);
  });
});
