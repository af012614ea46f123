// Worker thread of src/commands/identity/strength.ts: scores passwords with zxcvbn-ts off the
// event loop. Plain JavaScript so it runs as is under tsx, vitest and the compiled dist/ (the build
// copies non-TypeScript files under src/). Message in: { id, password, inputs }; out: { id, score,
// warning, suggestions } or { id, error }.
import { setPriority } from 'node:os';
import { parentPort } from 'node:worker_threads';
import { ZxcvbnFactory } from '@zxcvbn-ts/core';
import * as common from '@zxcvbn-ts/language-common';
import * as en from '@zxcvbn-ts/language-en';

// Lowest CPU priority for this thread (on Linux the nice value of pid 0 is the calling thread's):
// on a busy machine the scoring yields to the event loop instead of competing with it.
try {
  setPriority(19);
} catch {
  // not permitted here: scoring still runs off the event loop
}

const zxcvbn = new ZxcvbnFactory({
  translations: en.translations,
  graphs: common.adjacencyGraphs,
  dictionary: { ...common.dictionary, ...en.dictionary },
});

parentPort.on('message', ({ id, password, inputs }) => {
  try {
    const r = zxcvbn.check(password, inputs);
    parentPort.postMessage({ id, score: r.score, warning: r.feedback.warning ?? '', suggestions: r.feedback.suggestions ?? [] });
  } catch (err) {
    parentPort.postMessage({ id, error: String(err && err.message ? err.message : err) });
  }
});
