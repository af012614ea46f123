/**
 * What every process does once its clients are up and before it serves: ensure read-model
 * tables/views exist; then tasks later modules add (first admin, …). Each task is idempotent.
 */
import type { Services } from './services';
import { ensureProjections } from './projections/tables';
import { pgProjections } from './projections/index';
import { ensureWorkerSchema } from '../workers/consumer';
import { bootstrapAdminFromConfig } from './commands/users/bootstrap';

export type StartupTask = { name: string; run(services: Services): Promise<void> };

export const startupTasks: StartupTask[] = [
  { name: 'projections', run: (s) => ensureProjections(s.pool, pgProjections()) },
  { name: 'worker-tables', run: (s) => ensureWorkerSchema(s.pool, s.store) },
  { name: 'first-admin', run: bootstrapAdminFromConfig },
];

export async function runStartup(services: Services): Promise<void> {
  for (const task of startupTasks) {
    await task.run(services);
  }
}
