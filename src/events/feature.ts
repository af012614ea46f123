/** Feature events (stream `feature-<name>`), registered by admins. */
import { z } from 'zod';
import { defineEvent } from './registry';

export const featureName = z.string().min(1).max(64).regex(/^[a-zA-Z0-9][a-zA-Z0-9_.-]*$/, 'letters, digits, _ . - only');
export const FeatureRegistered = defineEvent('FeatureRegistered', z.object({ name: featureName, description: z.string().max(1000) }));
export const FeatureUpdated = defineEvent('FeatureUpdated', z.object({ name: featureName, description: z.string().max(1000) }));
export const FeatureDisabled = defineEvent('FeatureDisabled', z.object({ name: featureName }));
export const FeatureEnabled = defineEvent('FeatureEnabled', z.object({ name: featureName }));
export const FeatureDeleted = defineEvent('FeatureDeleted', z.object({ name: featureName }));
export const featureEvents = [FeatureRegistered, FeatureUpdated, FeatureDisabled, FeatureEnabled, FeatureDeleted];
