// Prints the CI's last line from vitest's JSON report: `N passed, N failed[, N skipped]`.
// A test file that failed without any failed test (it did not load, or a hook failed) counts as
// one failure, and so does a run vitest marks unsuccessful with no failed test (unhandled errors); skipped/todo tests are reported apart, never as passed. Exit code 1 when anything
// failed or the report is missing.
import fs from 'node:fs';
import { fileURLToPath } from 'node:url';

/** @param {any} report vitest's JSON report (or undefined when it could not be read) */
export function summarize(report) {
  if (!report || !Array.isArray(report.testResults)) return { passed: 0, failed: 1, skipped: 0, line: '0 passed, 1 failed (no test report)' };
  let passed = 0;
  let failed = 0;
  let skipped = 0;
  for (const file of report.testResults) {
    const tests = file.assertionResults ?? [];
    for (const t of tests) {
      if (t.status === 'passed') passed++;
      else if (t.status === 'failed') failed++;
      else skipped++;
    }
    if (file.status === 'failed' && !tests.some((t) => t.status === 'failed')) failed++;
  }
  // vitest marks the run unsuccessful on unhandled errors even when every test passed.
  let note = '';
  if (report.success === false && failed === 0) {
    failed = 1;
    note = ' (the run failed outside any test: unhandled errors?)';
  }
  const line = `${passed} passed, ${failed} failed${skipped ? `, ${skipped} skipped` : ''}${note}`;
  return { passed, failed, skipped, line };
}

if (process.argv[1] && fileURLToPath(import.meta.url) === fs.realpathSync(process.argv[1])) {
  let report;
  try {
    report = JSON.parse(fs.readFileSync(process.argv[2] ?? '.ci/out/vitest.json', 'utf8'));
  } catch {
    report = undefined;
  }
  const s = summarize(report);
  console.log(s.line);
  process.exitCode = s.failed > 0 ? 1 : 0;
}
