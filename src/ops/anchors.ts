/**
 * External anchors (issue 20 §10): a signed copy of a log checkpoint kept outside the database, so
 * tampering by someone who controls the whole database (events, `streams` and `log_checkpoints`
 * alike) is still detected against it.
 * - `writeAnchor`: writes a fresh checkpoint over the stable prefix of the log, signs it as a JWS
 *   with the server's access-token signing key (EdDSA or ES256, `kid` in the header) and writes
 *   `{format, anchor, jws}` to a file;
 * - `checkAnchor`: verifies the signature against the server's keys (JWT_PRIVATE_KEYS / the
 *   development key), then recomputes the log's count and digest at the anchored boundary.
 * PostgreSQL adapter only (the checkpoints are the PostgreSQL log's cross-stream chain).
 */
import fs from 'node:fs';
import path from 'node:path';
import { CompactSign, compactVerify, decodeProtectedHeader } from 'jose';
import type pg from 'pg';
import type { Config } from '../config';
import { getKeys } from '../credentials/keys';
import { verifyCheckpoints, writeCheckpoint, type Checkpoint } from '../events/postgres/checkpoints';

export const ANCHOR_FORMAT = 'authledger-anchor/1';

export interface AnchorFile {
  format: typeof ANCHOR_FORMAT;
  /** The signed checkpoint, readable (the JWS payload is the same JSON). */
  anchor: Checkpoint & { anchoredAt: string };
  jws: string;
}

type KeyConfig = Pick<Config, 'JWT_ALG' | 'JWT_PRIVATE_KEYS' | 'DATA_DIR'>;

export async function writeAnchor(pool: pg.Pool, config: KeyConfig, file: string): Promise<AnchorFile> {
  const cp = await writeCheckpoint(pool, { waitForHeadMs: 5000 });
  if (!cp) throw new Error('the log has no committed events to anchor yet');
  const keys = await getKeys(config);
  const anchor = { ...cp, anchoredAt: new Date().toISOString() };
  const jws = await new CompactSign(new TextEncoder().encode(JSON.stringify(anchor)))
    .setProtectedHeader({ alg: keys.signing.alg, kid: keys.signing.kid, typ: 'authledger-anchor+json' })
    .sign(keys.signing.privateKey);
  const out: AnchorFile = { format: ANCHOR_FORMAT, anchor, jws };
  fs.mkdirSync(path.dirname(path.resolve(file)), { recursive: true });
  // Written whole, then renamed: a reader never sees half an anchor.
  const tmp = `${file}.tmp-${process.pid}`;
  fs.writeFileSync(tmp, `${JSON.stringify(out, null, 2)}\n`, { mode: 0o644 });
  fs.renameSync(tmp, file);
  return out;
}

export type AnchorCheck =
  | { ok: true; anchor: AnchorFile['anchor'] }
  | { ok: false; reason: 'bad_file' | 'bad_signature' | 'anchor_mismatch'; detail: string; anchor?: AnchorFile['anchor'] };

export async function checkAnchor(pool: pg.Pool, config: KeyConfig, file: string): Promise<AnchorCheck> {
  let parsed: AnchorFile;
  try {
    parsed = JSON.parse(fs.readFileSync(file, 'utf8')) as AnchorFile;
    if (parsed.format !== ANCHOR_FORMAT || typeof parsed.jws !== 'string') throw new Error(`not an ${ANCHOR_FORMAT} file`);
  } catch (err) {
    return { ok: false, reason: 'bad_file', detail: (err as Error).message };
  }
  const keys = await getKeys(config);
  let anchor: AnchorFile['anchor'];
  try {
    const { kid } = decodeProtectedHeader(parsed.jws);
    const key = kid ? keys.verifying.get(kid) : undefined;
    if (!key) throw new Error(`signed with key ${kid ?? '(none)'}, which is not one of this server's keys`);
    const { payload } = await compactVerify(parsed.jws, key.publicKey, { algorithms: [key.alg] });
    // The signed payload is the truth; the readable copy beside it is not trusted.
    anchor = JSON.parse(new TextDecoder().decode(payload)) as AnchorFile['anchor'];
  } catch (err) {
    return { ok: false, reason: 'bad_signature', detail: (err as Error).message };
  }
  const r = await verifyCheckpoints(pool, [anchor]);
  if (r.firstMismatch) {
    return {
      ok: false, reason: 'anchor_mismatch', anchor,
      detail: `the anchor of ${anchor.anchoredAt} covers ${anchor.events} events up to ${anchor.uptoTxid}.${anchor.uptoPosition} with digest ${anchor.digest}; the log now gives ${r.firstMismatch.events} events, digest ${r.firstMismatch.digest}`,
    };
  }
  return { ok: true, anchor };
}

/** The file name of a scheduled anchor: sortable by time. */
export function anchorFileName(dir: string, at = new Date()): string {
  return path.join(dir, `anchor-${at.toISOString().replace(/[:.]/g, '-')}.json`);
}
