// Worker thread of src/commands/identity/strength.ts: scores passwords with zxcvbn-ts off the
// event loop. Plain JavaScript so it runs as is under tsx, vitest and the compiled dist/ (the build
// copies non-TypeScript files under src/). Message in: { id, password, inputs }; out: { id, score,
// warning, suggestions } or { id, error }.
import { parentPort } from 'node:worker_threads';
import { ZxcvbnFactory } from '@zxcvbn-ts/core';
import * as common from '@zxcvbn-ts/language-common';
import * as en from '@zxcvbn-ts/language-en';

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
