/**
 * The import rules of src/ (see the folder READMEs and docs/CONTRACTS.md), checked by `npm run lint`.
 * - the write side (commands) and the read side (queries) never import each other;
 * - events and credentials are the pure core: they import neither http, infra, projections nor commands;
 * - projections (read models) import neither commands, queries nor http;
 * - workers/ (top level) is imported only by the composition module src/compose.ts;
 * - no circular imports anywhere in src/.
 */
module.exports = {
  forbidden: [
    // Type-only imports are erased at compile time: the hub's parts name the `Hub` type they are given.
    { name: 'no-circular', severity: 'error', from: { path: '^src/' }, to: { circular: true, viaOnly: { dependencyTypesNot: ['type-only'] } } },
    { name: 'commands-not-queries', severity: 'error', from: { path: '^src/commands/' }, to: { path: '^src/queries/' } },
    { name: 'queries-not-commands', severity: 'error', from: { path: '^src/queries/' }, to: { path: '^src/commands/' } },
    {
      name: 'pure-core', severity: 'error',
      comment: 'events and credentials import neither http, infra, projections nor commands',
      from: { path: '^src/(events|credentials)/' },
      to: { path: '^src/(http|infra|projections|commands|queries|realtime|ops)/|^workers/' },
    },
    {
      name: 'projections-are-read-models', severity: 'error',
      from: { path: '^src/projections/' },
      to: { path: '^src/(commands|queries|http)/' },
    },
    {
      name: 'one-composition-module-imports-workers', severity: 'error',
      from: { path: '^src/', pathNot: '^src/compose\\.ts$' },
      to: { path: '^workers/' },
    },
    {
      name: 'roles-not-composition-root', severity: 'error',
      from: { path: '^(src/(commands|queries|projections|realtime|events|credentials|http|infra|gateway)/|workers/)' },
      to: { path: '^src/(compose|routes|startup|server|cli|main)\\.ts$' },
    },
  ],
  options: {
    doNotFollow: { path: 'node_modules' },
    tsPreCompilationDeps: true,
    tsConfig: { fileName: 'tsconfig.json' },
    exclude: { path: 'node_modules' },
  },
};
