import { describe, expect, it } from 'vitest';
import { generate } from 'otplib';
import { matchTotp, newTotpSecret, totpStep, totpUri } from '../../src/credentials/totp';
import { hashRecoveryCode, matchRecoveryCode, newRecoveryCodes } from '../../src/credentials/recovery-codes';

// A fixed clock: 10 s into a 30-second step.
const T = 1_700_000_020_000;
const codeAt = (secret: string, ms: number) => generate({ secret, epoch: Math.floor(ms / 1000) });

describe('TOTP with a fixed clock', () => {
  it('accepts the current step and one step either side, nothing further', async () => {
    const secret = newTotpSecret();
    const code = await codeAt(secret, T);
    const step = totpStep(T);
    // The code's step starts 10 s before T and ends 20 s after it.
    expect(await matchTotp(secret, code, T)).toBe(step);
    expect(await matchTotp(secret, code, T + 49_999)).toBe(step); // next step: -1
    expect(await matchTotp(secret, code, T + 50_000)).toBeUndefined(); // two steps later
    expect(await matchTotp(secret, code, T - 10_001)).toBe(step); // previous step: +1
    expect(await matchTotp(secret, code, T - 40_001)).toBeUndefined(); // two steps earlier
  });

  it('refuses a step already used (replay) and any older one', async () => {
    const secret = newTotpSecret();
    const step = totpStep(T);
    const code = await codeAt(secret, T);
    expect(await matchTotp(secret, code, T, step)).toBeUndefined();
    expect(await matchTotp(secret, code, T, step + 1)).toBeUndefined();
    expect(await matchTotp(secret, code, T, step - 1)).toBe(step);
    // the previous step's code after the current one was used
    const previous = await codeAt(secret, T - 30_000);
    expect(await matchTotp(secret, previous, T, step)).toBeUndefined();
  });

  it('refuses the code of another secret and malformed codes', async () => {
    const secret = newTotpSecret();
    const other = newTotpSecret();
    expect(await matchTotp(secret, await codeAt(other, T), T)).toBeUndefined();
    for (const bad of ['', '12345', '1234567', 'abcdef', ' 123456', '12345６']) expect(await matchTotp(secret, bad, T)).toBeUndefined();
  });

  it('makes otpauth URIs with issuer, account, 6 digits and 30 s', () => {
    const uri = totpUri('JBSWY3DPEHPK3PXP', 'authledger', 'ann@example.test');
    expect(uri).toMatch(/^otpauth:\/\/totp\//);
    expect(uri).toContain('secret=JBSWY3DPEHPK3PXP');
    expect(uri).toContain('issuer=authledger');
    expect(newTotpSecret()).toMatch(/^[A-Z2-7]{32}$/);
  });
});

describe('recovery codes', () => {
  it('10 distinct codes, only hashes kept, each matched once, case and dashes ignored', () => {
    const { codes, hashes } = newRecoveryCodes();
    expect(codes).toHaveLength(10);
    expect(new Set(codes).size).toBe(10);
    for (const c of codes) expect(c).toMatch(/^[0-9a-z]{4}-[0-9a-z]{4}-[0-9a-z]{4}-[0-9a-z]{4}$/);
    expect(hashes.every((h, i) => h === hashRecoveryCode(codes[i]!) && !h.includes(codes[i]!))).toBe(true);
    expect(matchRecoveryCode(codes[3]!, hashes, [])).toBe(3);
    expect(matchRecoveryCode(codes[3]!.toUpperCase().replace(/-/g, ' '), hashes, [])).toBe(3);
    expect(matchRecoveryCode(codes[3]!, hashes, [3])).toBeUndefined();
    expect(matchRecoveryCode('0000-0000-0000-0000', hashes, [])).toBeUndefined();
    expect(matchRecoveryCode('x'.repeat(1000), hashes, [])).toBeUndefined();
  });
});
