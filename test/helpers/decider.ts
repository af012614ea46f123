/**
 * Given / when / then for pure deciders (STYLE.md):
 *   spec(decider).given([...past events]).when(command).then([...new events])  // or .thenThrows(code)
 */
import { expect } from 'vitest';

export interface Decider<S, C, E> {
  initialState: () => S;
  evolve: (state: S, event: E) => S;
  decide: (command: C, state: S) => E[];
}

export function spec<S, C, E>(decider: Decider<S, C, E>) {
  return {
    given(events: E[]) {
      const state = events.reduce(decider.evolve, decider.initialState());
      return {
        when(command: C) {
          const run = () => decider.decide(command, state);
          return {
            then(expected: E[]) {
              expect(run()).toEqual(expected);
            },
            thenThrows(code: string) {
              let caught: unknown;
              try {
                run();
              } catch (err) {
                caught = err;
              }
              expect(caught, 'expected the decider to refuse').toBeDefined();
              expect((caught as { code?: string }).code).toBe(code);
            },
          };
        },
      };
    },
  };
}
