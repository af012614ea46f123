/**
 * The read-model browser's statement check: what an admin's SQL may be before it is sent.
 * This is the first of two walls; the second is the database role (role.ts), which can only
 * SELECT the read-model views, in a READ ONLY transaction, on a connection of its own. Rules:
 * - the text is split the way PostgreSQL's lexer splits it (strings, E'' strings, dollar quotes,
 *   quoted identifiers, nested block comments, line comments); anything unterminated is refused;
 * - comments are replaced by a space before anything else looks at the text, so no comment can
 *   hide or end a statement, and the text sent is the text checked;
 * - one statement: a `;` is refused anywhere but at the very end;
 * - it starts with SELECT, WITH, VALUES or TABLE (the server wraps it as a subquery, which
 *   PostgreSQL accepts only for a query);
 * - no statement keyword anywhere outside strings (INSERT, UPDATE, DELETE, MERGE, COPY, SET, RESET,
 *   DO, CALL, CREATE, DROP, ALTER, GRANT, … and SELECT … INTO, FOR UPDATE/SHARE);
 * - no call of a function with side effects or that reaches outside (pg_sleep*, set_config,
 *   dblink*, lo_*, pg_read_*, pg_ls_*, advisory locks, pg_terminate/cancel_backend, query_to_xml…),
 *   whether written plainly, schema-qualified or as a quoted identifier; no U& escapes (which could
 *   spell one), no `$1` parameters; parentheses balance.
 */
import { domainError } from '../../errors';

const STATEMENT_WORDS = new Set([
  'insert', 'update', 'delete', 'merge', 'copy', 'set', 'reset', 'do', 'call', 'create', 'drop', 'alter', 'grant',
  'revoke', 'truncate', 'lock', 'listen', 'unlisten', 'notify', 'vacuum', 'analyze', 'analyse', 'prepare', 'execute',
  'deallocate', 'declare', 'fetch', 'move', 'close', 'begin', 'commit', 'rollback', 'savepoint', 'release', 'start',
  'abort', 'discard', 'refresh', 'security', 'load', 'import', 'checkpoint', 'cluster', 'reindex', 'comment', 'explain',
  'show', 'into', 'share', 'reassign', 'owned', 'role', 'session_authorization',
]);

const FIRST_WORDS = new Set(['select', 'with', 'values', 'table']);

const FORBIDDEN_FUNCTIONS = [
  /^pg_sleep/, /^set_config$/, /^dblink/, /^lo_/, /^lo(read|write)$/, /^pg_read_/, /^pg_ls_/, /^pg_stat_file$/, /^pg_file_/,
  /^pg_(try_)?advisory/, /^pg_terminate_backend$/, /^pg_cancel_backend$/, /^pg_reload_conf$/, /^pg_rotate_logfile$/,
  /^pg_notify$/, /^pg_logical_/, /^pg_replication_/, /^pg_create_/, /^pg_drop_/, /^pg_switch_wal$/, /^pg_(start|stop)_backup$/,
  /^pg_backup_/, /^pg_promote$/, /^pg_wal_/, /^pg_import_system_collations$/, /^pg_export_snapshot$/, /^pg_log_backend/,
  /^(query|table|schema|database|cursor)_to_xml/, /^nextval$/, /^setval$/, /^txid_current/, /^pg_current_xact_id/,
  /^pg_nextoid$/, /^pg_reload/, /^binary_upgrade_/,
];

export interface CheckedSql {
  /** The statement as it will be sent: comments blanked, trailing `;` removed. */
  sql: string;
}

type Token = { kind: 'word' | 'qident' | 'string' | 'number' | 'param' | 'punct' | 'op'; text: string; at: number };

const refuse = (message: string) => domainError('sql_refused', message);

/** Splits `sql` like PostgreSQL's lexer; returns the tokens and the text with comments blanked. */
export function tokenize(sql: string): { tokens: Token[]; blanked: string } {
  const tokens: Token[] = [];
  const out = sql.split('');
  let i = 0;
  const n = sql.length;
  const blank = (from: number, to: number) => {
    for (let k = from; k < to; k++) out[k] = sql[k] === '\n' ? '\n' : ' ';
  };
  while (i < n) {
    const c = sql[i]!;
    if (/\s/.test(c)) { i++; continue; }
    if (c === '-' && sql[i + 1] === '-') {
      const end = sql.indexOf('\n', i);
      const stop = end < 0 ? n : end;
      blank(i, stop);
      i = stop;
      continue;
    }
    if (c === '/' && sql[i + 1] === '*') {
      let depth = 0;
      let k = i;
      do {
        if (sql[k] === '/' && sql[k + 1] === '*') { depth++; k += 2; } else if (sql[k] === '*' && sql[k + 1] === '/') { depth--; k += 2; } else k++;
      } while (depth > 0 && k < n);
      if (depth > 0) throw refuse('Unterminated comment.');
      blank(i, k);
      i = k;
      continue;
    }
    if (c === "'") {
      const prev = tokens.at(-1);
      const escaped = !!prev && prev.kind === 'word' && prev.at + prev.text.length === i && prev.text.toLowerCase() === 'e';
      let k = i + 1;
      for (;;) {
        if (k >= n) throw refuse('Unterminated string.');
        if (escaped && sql[k] === '\\') { k += 2; continue; }
        if (sql[k] === "'") {
          if (sql[k + 1] === "'") { k += 2; continue; }
          break;
        }
        k++;
      }
      tokens.push({ kind: 'string', text: sql.slice(i, k + 1), at: i });
      i = k + 1;
      continue;
    }
    if (c === '"') {
      let k = i + 1;
      let name = '';
      for (;;) {
        if (k >= n) throw refuse('Unterminated quoted identifier.');
        if (sql[k] === '"') {
          if (sql[k + 1] === '"') { name += '"'; k += 2; continue; }
          break;
        }
        name += sql[k];
        k++;
      }
      tokens.push({ kind: 'qident', text: name, at: i });
      i = k + 1;
      continue;
    }
    if (c === '$') {
      const tag = /^\$([A-Za-z_\u0080-\uffff][A-Za-z0-9_\u0080-\uffff]*)?\$/.exec(sql.slice(i));
      if (tag) {
        const end = sql.indexOf(tag[0], i + tag[0].length);
        if (end < 0) throw refuse('Unterminated dollar-quoted string.');
        tokens.push({ kind: 'string', text: sql.slice(i, end + tag[0].length), at: i });
        i = end + tag[0].length;
        continue;
      }
      if (/\d/.test(sql[i + 1] ?? '')) {
        tokens.push({ kind: 'param', text: '$', at: i });
        i++;
        continue;
      }
    }
    const word = /^[A-Za-z_\u0080-\uffff][A-Za-z0-9_$\u0080-\uffff]*/.exec(sql.slice(i, i + 200));
    if (word) {
      tokens.push({ kind: 'word', text: word[0], at: i });
      i += word[0].length;
      continue;
    }
    const num = /^(\d+(\.\d*)?|\.\d+)([eE][+-]?\d+)?/.exec(sql.slice(i, i + 100));
    if (num) {
      tokens.push({ kind: 'number', text: num[0], at: i });
      i += num[0].length;
      continue;
    }
    if ('();,[].:'.includes(c)) {
      tokens.push({ kind: 'punct', text: c, at: i });
      i++;
      continue;
    }
    // Operators: PostgreSQL ends an operator where `--` or `/*` begins (a comment).
    let k = i;
    while (k < n && '+-*/<>=~!@#%^&|`?'.includes(sql[k]!) && !(sql[k] === '-' && sql[k + 1] === '-') && !(sql[k] === '/' && sql[k + 1] === '*')) k++;
    if (k === i) throw refuse(`Unexpected character ${JSON.stringify(c)}.`);
    tokens.push({ kind: 'op', text: sql.slice(i, k), at: i });
    i = k;
  }
  return { tokens, blanked: out.join('') };
}

/** Checks an admin's statement; returns the text to send or throws 400 `sql_refused`. */
export function checkReadOnlySql(input: string): CheckedSql {
  const { tokens, blanked } = tokenize(input);
  // Trailing semicolons are allowed (people type them); any other is a second statement.
  let last = tokens.length;
  while (last > 0 && tokens[last - 1]!.kind === 'punct' && tokens[last - 1]!.text === ';') last--;
  const body = tokens.slice(0, last);
  if (!body.length) throw refuse('The statement is empty.');
  if (body.some((t) => t.kind === 'punct' && t.text === ';')) throw refuse('Only one statement is allowed (no `;` inside).');
  const first = body[0]!;
  if (first.kind !== 'word' || !FIRST_WORDS.has(first.text.toLowerCase())) {
    throw refuse('Only queries are allowed: the statement must start with SELECT, WITH, VALUES or TABLE.');
  }
  let depth = 0;
  for (let k = 0; k < body.length; k++) {
    const t = body[k]!;
    if (t.kind === 'param') throw refuse('Parameters ($1…) are not supported.');
    if (t.kind === 'punct' && t.text === '(') depth++;
    if (t.kind === 'punct' && t.text === ')' && --depth < 0) throw refuse('Unbalanced parentheses.');
    if (t.kind === 'word') {
      const w = t.text.toLowerCase();
      if (STATEMENT_WORDS.has(w)) throw refuse(`${t.text.toUpperCase()} is not allowed in the read-model browser (read-only queries only).`);
      const next = body[k + 1];
      if ((w === 'u' || w === 'uescape') && next?.kind === 'op' && next.text.startsWith('&')) throw refuse('Unicode escapes (U&) are not allowed.');
      if (w === 'uescape') throw refuse('Unicode escapes (UESCAPE) are not allowed.');
    }
    if (t.kind === 'word' || t.kind === 'qident') {
      const name = t.kind === 'word' ? t.text.toLowerCase() : t.text;
      if (FORBIDDEN_FUNCTIONS.some((re) => re.test(name))) throw refuse(`${t.text} is not allowed in the read-model browser.`);
    }
  }
  if (depth !== 0) throw refuse('Unbalanced parentheses.');
  const lastToken = body.at(-1)!;
  // A quoted identifier's token text is its name, so its end is found in the input.
  const stop = lastToken.kind === 'qident' ? endOfQuoted(input, lastToken.at) : lastToken.at + lastToken.text.length;
  return { sql: blanked.slice(0, stop).trim() };
}

function endOfQuoted(sql: string, at: number): number {
  let k = at + 1;
  for (;;) {
    if (sql[k] === '"') {
      if (sql[k + 1] === '"') { k += 2; continue; }
      return k + 1;
    }
    k++;
  }
}
