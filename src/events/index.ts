/** Every event type authledger stores, in one registry. */
import { EventRegistry } from './registry';
import { userEvents } from './user';
import { refreshGuardEvents, sessionEvents } from './session';
import { apiKeyEvents } from './api-key';
import { featureEvents } from './feature';
import { emailTokenEvents } from './email-token';
import { emailHoldEvents } from './email-change';
import { externalIdentityEvents } from './external-identity';
import { realtimeEvents } from './realtime';
import { savedQueryEvents } from './saved-query';
import { fileEvents } from './file';
import { mfaEvents } from './mfa';
import { serviceEvents } from './service';

export const allEvents = [...userEvents, ...sessionEvents, ...refreshGuardEvents, ...apiKeyEvents, ...featureEvents, ...emailTokenEvents, ...emailHoldEvents, ...externalIdentityEvents, ...realtimeEvents, ...savedQueryEvents, ...fileEvents, ...mfaEvents, ...serviceEvents];

export function createRegistry(): EventRegistry {
  return new EventRegistry(allEvents);
}

export * from './store';
export { streams, parseStream } from './streams';
export { EventRegistry, defineEvent } from './registry';
