/**
 * Feature decisions. Rules enforced here:
 * - a name is registered once while it exists; after deletion it may be registered again;
 * - updates and deletion need an existing feature (404 otherwise);
 * - an update emits only what changes: FeatureUpdated for a new description, FeatureDisabled /
 *   FeatureEnabled for a change of `enabled`; an update that changes nothing emits nothing.
 */
import { errors } from '../../errors';
import { evolveFeature, initialFeatureState, type FeatureEvent, type FeatureState } from '../../events/feature';

export type FeatureCommand =
  | { type: 'RegisterFeature'; name: string; description: string }
  | { type: 'UpdateFeature'; name: string; description?: string; enabled?: boolean }
  | { type: 'DeleteFeature'; name: string };

export function decideFeature(command: FeatureCommand, state: FeatureState): FeatureEvent[] {
  switch (command.type) {
    case 'RegisterFeature':
      if (state.status === 'active') throw errors.conflict(`Feature ${command.name} already exists.`, 'feature_exists');
      return [{ type: 'FeatureRegistered', data: { name: command.name, description: command.description } }];
    case 'UpdateFeature': {
      if (state.status !== 'active') throw errors.notFound(`No feature ${command.name}.`, 'feature_not_found');
      const out: FeatureEvent[] = [];
      if (command.description !== undefined && command.description !== state.description) {
        out.push({ type: 'FeatureUpdated', data: { name: command.name, description: command.description } });
      }
      if (command.enabled === false && state.enabled) out.push({ type: 'FeatureDisabled', data: { name: command.name } });
      if (command.enabled === true && !state.enabled) out.push({ type: 'FeatureEnabled', data: { name: command.name } });
      return out;
    }
    case 'DeleteFeature':
      if (state.status !== 'active') throw errors.notFound(`No feature ${command.name}.`, 'feature_not_found');
      return [{ type: 'FeatureDeleted', data: { name: command.name } }];
  }
}

export const featureDecider = { initialState: initialFeatureState, evolve: evolveFeature, decide: decideFeature };
