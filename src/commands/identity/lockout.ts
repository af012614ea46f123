/**
 * Brute-force protection, the same numbers for known accounts (counted in the user's event
 * stream) and unknown e-mails (counted in Redis), so a lockout never tells whether an account
 * exists. Rules:
 * - each failed login adds one to a consecutive-failure counter; a success clears it; so does
 *   24 h without failures, and the end of a lockout;
 * - the LOCKOUT_THRESHOLD-th consecutive failure locks logins for LOCKOUT_MINUTES; while locked,
 *   every attempt (even with the right password) is refused with 429 and not counted: at most
 *   LOCKOUT_THRESHOLD failures per LOCKOUT_MINUTES (defaults 10 per 15 min = 40/h; ASVS: ≤ 100/h);
 * - from the 3rd consecutive failure each failed answer is delayed progressively
 *   (250 ms, 500 ms, 1 s, 2 s, then 3 s).
 */
export interface FailureCounter {
  failures: number;
  lockedUntil?: string;
  lastFailureAt?: string;
}

export interface LockoutPolicy {
  threshold: number;
  minutes: number;
}

/** Consecutive failures older than this start over. */
export const FAILURE_WINDOW_MS = 24 * 3600 * 1000;

export function isLocked(c: FailureCounter, now: Date): boolean {
  return !!c.lockedUntil && Date.parse(c.lockedUntil) > now.getTime();
}

/** The counter after one more failure at `now`. */
export function nextFailure(c: FailureCounter, now: Date, policy: LockoutPolicy): { failures: number; lockedUntil?: string } {
  let failures = c.failures;
  if (c.lockedUntil && Date.parse(c.lockedUntil) <= now.getTime()) failures = 0;
  if (c.lastFailureAt && now.getTime() - Date.parse(c.lastFailureAt) > FAILURE_WINDOW_MS) failures = 0;
  failures += 1;
  if (failures >= policy.threshold) return { failures, lockedUntil: new Date(now.getTime() + policy.minutes * 60_000).toISOString() };
  return { failures };
}

export function progressiveDelayMs(failures: number): number {
  if (failures < 3) return 0;
  return Math.min(3000, 250 * 2 ** (failures - 3));
}

/**
 * The same counter for unknown e-mails, atomically in Redis.
 * KEYS[1] counter hash; ARGV now ms, threshold, lock ms, window ms. Returns {failures, lockedUntil ms}.
 */
export const UNKNOWN_LOGIN_FAILURE = `
local now = tonumber(ARGV[1])
local f = tonumber(redis.call('HGET', KEYS[1], 'failures') or '0')
local lu = tonumber(redis.call('HGET', KEYS[1], 'lockedUntil') or '0')
local last = tonumber(redis.call('HGET', KEYS[1], 'lastFailureAt') or '0')
if lu > 0 and lu <= now then f = 0; lu = 0 end
if last > 0 and now - last > tonumber(ARGV[4]) then f = 0 end
f = f + 1
if f >= tonumber(ARGV[2]) then lu = now + tonumber(ARGV[3]) end
redis.call('HSET', KEYS[1], 'failures', f, 'lockedUntil', lu, 'lastFailureAt', now)
redis.call('PEXPIRE', KEYS[1], tonumber(ARGV[4]) + tonumber(ARGV[3]))
return {f, lu}
`;
