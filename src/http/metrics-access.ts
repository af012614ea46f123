/**
 * Who may read `/metrics` (issue 20 §7): metrics are off the public surface by default. Rules:
 * - METRICS_PORT set: metrics are served only by their own listener (METRICS_HOST:METRICS_PORT,
 *   ./metrics-listener.ts); `/metrics` on the API port and the realtime hub port answers 404;
 * - else METRICS_TOKEN set: `/metrics` on the API and hub ports needs `Authorization: Bearer
 *   <METRICS_TOKEN>` (compared in constant time), else 401 `metrics_token_required`;
 * - neither set: `/metrics` answers 404 everywhere (as an unknown route);
 * - on the METRICS_PORT listener, METRICS_TOKEN is required too when it is set.
 */
import { createHash, timingSafeEqual } from 'node:crypto';
import type { Config } from '../config';

export type MetricsVerdict = 'ok' | 'not_found' | 'unauthorized';

const digest = (s: string) => createHash('sha256').update(s, 'utf8').digest();

function bearerMatches(config: Pick<Config, 'METRICS_TOKEN'>, authorization: string | undefined): boolean {
  const m = /^Bearer[ ]+(\S+)[ ]*$/i.exec(authorization ?? '');
  // Hash both sides: equal lengths for timingSafeEqual, and no early exit on the length.
  return timingSafeEqual(digest(m?.[1] ?? ''), digest(config.METRICS_TOKEN ?? '')) && m !== null && !!config.METRICS_TOKEN;
}

/** The verdict for a `/metrics` request on the public API or hub port. */
export function publicMetricsVerdict(config: Pick<Config, 'METRICS_TOKEN' | 'METRICS_PORT'>, authorization: string | undefined): MetricsVerdict {
  if (config.METRICS_PORT !== undefined || !config.METRICS_TOKEN) return 'not_found';
  return bearerMatches(config, authorization) ? 'ok' : 'unauthorized';
}

/** The verdict on the dedicated METRICS_PORT listener. */
export function listenerMetricsVerdict(config: Pick<Config, 'METRICS_TOKEN'>, authorization: string | undefined): MetricsVerdict {
  if (!config.METRICS_TOKEN) return 'ok';
  return bearerMatches(config, authorization) ? 'ok' : 'unauthorized';
}
