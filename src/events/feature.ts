/** Feature events (stream `feature-<name>`), registered by admins. */
import { z } from 'zod';
import { defineEvent, type EventOf } from './registry';

export const featureName = z.string().min(1).max(64).regex(/^[a-zA-Z0-9][a-zA-Z0-9_.-]*$/, 'letters, digits, _ . - only');
export const FeatureRegistered = defineEvent('FeatureRegistered', z.object({ name: featureName, description: z.string().max(1000) }));
export const FeatureUpdated = defineEvent('FeatureUpdated', z.object({ name: featureName, description: z.string().max(1000) }));
export const FeatureDisabled = defineEvent('FeatureDisabled', z.object({ name: featureName }));
export const FeatureEnabled = defineEvent('FeatureEnabled', z.object({ name: featureName }));
export const FeatureDeleted = defineEvent('FeatureDeleted', z.object({ name: featureName }));
export const featureEvents = [FeatureRegistered, FeatureUpdated, FeatureDisabled, FeatureEnabled, FeatureDeleted];

export type FeatureEvent =
  | EventOf<typeof FeatureRegistered>
  | EventOf<typeof FeatureUpdated>
  | EventOf<typeof FeatureDisabled>
  | EventOf<typeof FeatureEnabled>
  | EventOf<typeof FeatureDeleted>;

/** A feature as the write side sees it. A deleted feature's name may be registered again. */
export interface FeatureState {
  status: 'none' | 'active' | 'deleted';
  name?: string;
  description: string;
  enabled: boolean;
}

export const initialFeatureState = (): FeatureState => ({ status: 'none', description: '', enabled: false });

export function evolveFeature(state: FeatureState, event: FeatureEvent): FeatureState {
  switch (event.type) {
    case 'FeatureRegistered':
      return { status: 'active', name: event.data.name, description: event.data.description, enabled: true };
    case 'FeatureUpdated':
      return { ...state, description: event.data.description };
    case 'FeatureDisabled':
      return { ...state, enabled: false };
    case 'FeatureEnabled':
      return { ...state, enabled: true };
    case 'FeatureDeleted':
      return { ...state, status: 'deleted', enabled: false };
    default:
      return state;
  }
}
