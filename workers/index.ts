// Entry of the worker role. Filled in by the workers issue (#7): BullMQ email and cleanup jobs.
import type { Services } from '../src/services';
export async function startWorkers(_services: Services): Promise<{ stop(): Promise<void> }> {
  return { stop: async () => undefined };
}
