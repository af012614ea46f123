/**
 * A PostgreSQL projection batch and its checkpoint in one transaction, in as few round trips as the
 * batch's reads allow (applyTogether), for one projection or several at once. The group runner
 * (group.ts) applies every projection's part together; a single runner (engine.ts, applyPgBatch)
 * applies one part the same way.
 */
import pg from 'pg';
import type { Position, RecordedEvent } from '../events/store';
import { PG_CHECKPOINT_CHANNEL } from './checkpoint-feed';
import type { PgState } from './checkpoints';
import { inlineParams } from './inline-sql';
import { physicalTable } from './tables';
import type { PgProjection } from './types';

export interface Part {
  projection: PgProjection;
  state: PgState;
  events: RecordedEvent[];
}

/** The message of the error applyTogether fails with when a checkpoint was not where the part said. */
export const CHECKPOINT_MOVED = 'a projection checkpoint moved';

/** Whether `err` is applyTogether's compare-and-set failure (nothing was written). */
export const checkpointMoved = (err: unknown): boolean => err instanceof Error && err.message.includes(CHECKPOINT_MOVED);

/**
 * One transaction for every part, in as few round trips as the batch's reads allow (a create-key
 * batch: the page, then one with the key's row, then one with the rest; a batch that reads
 * nothing: the page, then one):
 * - BEGIN, `synchronous_commit = off` for this transaction (a read model and its checkpoint
 *   commit together, so a batch a crash loses is applied again from the log, as rebuilds do) and
 *   every checkpoint's compare-and-set with its NOTIFY, all or none (a checkpoint that moved fails
 *   the statement and so the transaction), go out with the batch's first query;
 * - the writes a projection hands to ctx.write are held and go out with COMMIT, in order.
 * Statements ride along as one simple-protocol query, parameters inlined (inline-sql.ts).
 * Returns the parts applied (all of them); throws after ROLLBACK, having changed nothing.
 */
export async function applyTogether(client: pg.ClientBase, parts: Part[], to: Position): Promise<Part[]> {
  if (!parts.length) return [];
  // Positions and generations are integers written by BigInt, names are escaped. The cast of the
  // CASE fails when a compare-and-set did not hold.
  let opening: string | undefined = `BEGIN; SET LOCAL synchronous_commit = off;
    WITH moved AS (UPDATE projections p SET commit_position = ${to.commit}, prepare_position = ${to.prepare}, updated_at = now()
      FROM unnest(${textArray(client, parts.map((x) => x.projection.name))}, ${intArray(parts.map((x) => BigInt(x.state.generation)), 'int')},
                  ${intArray(parts.map((x) => x.state.position.commit), 'bigint')}, ${intArray(parts.map((x) => x.state.position.prepare), 'bigint')}) AS v(name, generation, c, p)
     WHERE p.name = v.name AND p.generation = v.generation AND p.commit_position = v.c AND p.prepare_position = v.p
     RETURNING p.name, pg_notify(${client.escapeLiteral(PG_CHECKPOINT_CHANNEL)}, p.name || ' ' || p.commit_position || ' ' || p.prepare_position))
    SELECT (CASE WHEN count(*) = ${parts.length} THEN '1' ELSE ${client.escapeLiteral(CHECKPOINT_MOVED)} END)::int FROM moved;`;
  /** The transaction's connection as projections see it: the first query opens the transaction. */
  const tx = new Proxy(client, {
    get(target, prop) {
      if (prop !== 'query') return Reflect.get(target, prop, target);
      return async (text: unknown, values?: unknown[]) => {
        if (opening === undefined) return target.query(text as string, values);
        const first = opening;
        opening = undefined;
        if (typeof text !== 'string') {
          await target.query(first);
          return target.query(text as string, values);
        }
        const results = (await target.query(`${first}\n${inlineParams(text, values)}`)) as unknown as pg.QueryResult[];
        return results[results.length - 1];
      };
    },
  }) as pg.PoolClient;
  const writes: string[] = [];
  try {
    for (const x of parts) {
      if (!x.events.length) continue;
      await x.projection.apply(x.events, {
        client: tx,
        table: (base) => physicalTable(base, x.state.generation),
        write: async (text, values) => {
          writes.push(`${inlineParams(text, values)};`);
        },
      });
    }
    await client.query(`${opening ?? ''}\n${writes.join('\n')}\nCOMMIT`);
    return parts;
  } catch (err) {
    await client.query('ROLLBACK').catch(() => undefined);
    throw err;
  }
}

/** Literal arrays for the simple-protocol query above (it cannot take parameters). */
const textArray = (client: pg.ClientBase, xs: readonly string[]) => `ARRAY[${xs.map((x) => client.escapeLiteral(x)).join(', ')}]::text[]`;
const intArray = (xs: readonly bigint[], type: 'int' | 'bigint') => `ARRAY[${xs.map((x) => BigInt(x).toString()).join(', ')}]::${type}[]`;
