/**
 * pino logger: JSON, pretty on a terminal, optional files (LOG_DIR/app.log, LOG_DIR/error.log),
 * secrets redacted wherever they appear in a logged object.
 */
import fs from 'node:fs';
import path from 'node:path';
import pino, { type Logger } from 'pino';
import type { Config } from '../config';

export const REDACT_PATHS = [
  'req.headers.authorization',
  'req.headers["access-token"]',
  'req.headers["api-key"]',
  'req.headers["x-api-key"]',
  'req.headers.cookie',
  'res.headers["set-cookie"]',
  '*.password',
  '*.current_password',
  '*.new_password',
  '*.refresh_token',
  '*.access_token',
  '*.token',
  '*.api_key',
  '*.ticket',
  '*.secret',
  '*.passwordHash',
];

export function createLogger(config: Pick<Config, 'LOG_LEVEL' | 'LOG_DIR' | 'NODE_ENV'>): Logger {
  if (config.LOG_LEVEL === 'silent') return pino({ level: 'silent' });
  const level = config.LOG_LEVEL;
  const redact = { paths: REDACT_PATHS, censor: '[redacted]' };
  const streams: pino.StreamEntry[] = [];
  if (process.stdout.isTTY && config.NODE_ENV !== 'production') {
    streams.push({ level, stream: pino.transport({ target: 'pino-pretty', options: { colorize: true, translateTime: 'SYS:standard' } }) });
  } else {
    streams.push({ level, stream: process.stdout });
  }
  if (config.LOG_DIR) {
    fs.mkdirSync(config.LOG_DIR, { recursive: true });
    streams.push({ level, stream: pino.destination({ dest: path.join(config.LOG_DIR, 'app.log'), sync: false, mkdir: true }) });
    streams.push({ level: 'error', stream: pino.destination({ dest: path.join(config.LOG_DIR, 'error.log'), sync: false, mkdir: true }) });
  }
  return pino({ level, redact, base: { service: 'authledger' } }, pino.multistream(streams));
}
