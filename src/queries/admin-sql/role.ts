/**
 * The read-model browser's database role (second wall; check.ts is the first). Rules:
 * - the role is made by migration 1732200130000 (LOGIN, no other attribute, read-only defaults);
 *   its name is derived from the database's (`authledger_rm_<md5(db)[0..20]>`), so databases on
 *   one cluster never share it;
 * - it is granted SELECT on the read-model relations below and nothing else: never the events
 *   table, streams, checkpoints, snapshots or key tables. None of these read models holds a
 *   secret (no hash, no ciphertext: api_keys and sessions keep neither), which test/admin-sql checks;
 * - a rebuild recreates a view (and so drops its grant): `ensureBrowserAccess` re-grants, at start
 *   and before each browser request (a catalog read when nothing is missing);
 * - its password is derived from the server secret (every process of one installation agrees) and
 *   set as a SCRAM verifier, so the plain password never reaches the server or its logs;
 * - statements run on a fresh connection *as that role* (not SET ROLE on an owner's connection,
 *   which a statement could RESET), closed after one use, so nothing a statement did to its
 *   session outlives it.
 */
import { createHash, createHmac, pbkdf2Sync, randomBytes } from 'node:crypto';
import pg from 'pg';
import type { Config } from '../../config';
import { emailTokenKey } from '../../credentials/email-tokens';
import { pgProjections } from '../../projections/index';

/** Plain usage tables (api-key-usage.ts) beside the projections' views. */
const USAGE_TABLES = ['api_key_usage', 'api_key_last_used', 'feature_usage'];

/** The relations the browser may read: the PostgreSQL read models' views and the usage tables. */
export const browsableRelations = (): string[] => [...pgProjections().flatMap((p) => Object.keys(p.tables)), ...USAGE_TABLES];

export const browserRoleName = (database: string) => `authledger_rm_${createHash('md5').update(database).digest('hex').slice(0, 20)}`;

export const databaseOf = (url: string) => decodeURIComponent(new URL(url).pathname.replace(/^\//, ''));

export function browserRolePassword(config: Pick<Config, 'PASSWORD_PEPPER' | 'DATA_DIR'> & { EMAIL_TOKEN_SECRET?: string }): string {
  return createHmac('sha256', emailTokenKey(config)).update('read-model browser role password v1').digest('base64url');
}

/** A SCRAM-SHA-256 verifier (RFC 5802/7677) as PostgreSQL stores it. */
function scramVerifier(password: string): string {
  const salt = randomBytes(16);
  const iterations = 4096;
  const salted = pbkdf2Sync(password, salt, iterations, 32, 'sha256');
  const clientKey = createHmac('sha256', salted).update('Client Key').digest();
  const storedKey = createHash('sha256').update(clientKey).digest();
  const serverKey = createHmac('sha256', salted).update('Server Key').digest();
  return `SCRAM-SHA-256$${iterations}:${salt.toString('base64')}$${storedKey.toString('base64')}:${serverKey.toString('base64')}`;
}

/** Whether the role exists (the migration could not make it without CREATEROLE). */
export async function browserRoleExists(pool: pg.Pool, role: string): Promise<boolean> {
  const { rowCount } = await pool.query('SELECT 1 FROM pg_roles WHERE rolname = $1', [role]);
  return !!rowCount;
}

/** Grants SELECT on every browsable relation that exists and lacks it. */
export async function ensureBrowserGrants(pool: pg.Pool, role: string): Promise<void> {
  const { rows } = await pool.query<{ name: string }>(
    `SELECT c.relname AS name FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
      WHERE n.nspname = 'public' AND c.relname = ANY($1) AND c.relkind IN ('r', 'v')
        AND NOT has_table_privilege($2, c.oid, 'SELECT')`,
    [browsableRelations(), role],
  );
  for (const r of rows) await pool.query(`GRANT SELECT ON ${pg.escapeIdentifier(r.name)} TO ${pg.escapeIdentifier(role)}`);
}

/** Start task: the role's password and grants. Never fails the start (logs instead). */
export async function ensureBrowserAccess(pool: pg.Pool, config: Config, log?: { warn(o: object, m?: string): void }): Promise<boolean> {
  const role = browserRoleName(databaseOf(config.DATABASE_URL));
  try {
    if (!(await browserRoleExists(pool, role))) {
      log?.warn({ role }, 'read-model browser role missing (the database user lacks CREATEROLE?): the SQL box answers 503');
      return false;
    }
    const verifier = scramVerifier(browserRolePassword(config));
    await pool.query(`ALTER ROLE ${pg.escapeIdentifier(role)} PASSWORD ${pg.escapeLiteral(verifier)}`);
    await ensureBrowserGrants(pool, role);
    return true;
  } catch (err) {
    log?.warn({ err: (err as Error).message, role }, 'read-model browser role could not be prepared: the SQL box answers 503');
    return false;
  }
}

/** A new connection as the browser role (one statement's worth; the caller ends it). */
export async function connectAsBrowser(config: Config): Promise<pg.Client> {
  // The URL's own user and password would win over separate fields (pg merges the URL last).
  const url = new URL(config.DATABASE_URL);
  url.username = browserRoleName(databaseOf(config.DATABASE_URL));
  url.password = encodeURIComponent(browserRolePassword(config));
  const client = new pg.Client({
    connectionString: url.toString(),
    application_name: 'authledger read-model browser',
    connectionTimeoutMillis: 5000,
  });
  client.on('error', () => undefined);
  await client.connect();
  return client;
}
