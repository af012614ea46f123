/** The CI's last line (`.ci/summary.mjs`) from vitest's JSON report. */
import { describe, expect, it } from 'vitest';
// @ts-expect-error -- plain ESM script without type declarations
import { summarize } from '../../.ci/summary.mjs';

const file = (status: string, tests: string[]) => ({ status, assertionResults: tests.map((s) => ({ status: s })) });

describe('.ci/summary.mjs', () => {
  it('counts passed and failed tests', () => {
    const r = { success: false, testResults: [file('passed', ['passed', 'passed']), file('failed', ['passed', 'failed'])] };
    expect(summarize(r).line).toBe('3 passed, 1 failed');
  });

  it('never counts skipped or todo tests as passed', () => {
    const r = { success: true, testResults: [file('passed', ['passed', 'skipped', 'pending', 'todo'])] };
    expect(summarize(r)).toMatchObject({ passed: 1, failed: 0, skipped: 3, line: '1 passed, 0 failed, 3 skipped' });
  });

  it('a file that failed to load counts as a failure', () => {
    const r = { success: false, testResults: [file('passed', ['passed']), file('failed', [])] };
    expect(summarize(r).line).toBe('1 passed, 1 failed');
  });

  it('an unsuccessful run with no failed test is a failure', () => {
    const r = { success: false, testResults: [file('passed', ['passed'])] };
    expect(summarize(r)).toMatchObject({ passed: 1, failed: 1 });
  });

  it('a missing report is a failure', () => {
    expect(summarize(undefined)).toMatchObject({ failed: 1 });
  });
});
