// Entry of the realtime role. Filled in by the realtime issue (#8): the uWebSockets.js hub.
import type { Services } from '../services';
export async function startRealtime(services: Services): Promise<{ port: number; stop(): Promise<void> }> {
  return { port: services.config.REALTIME_PORT, stop: async () => undefined };
}
