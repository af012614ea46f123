/**
 * Password strength (zxcvbn-ts) without stalling the event loop (issue 20 §5b). Rules:
 * - zxcvbn's work grows faster than linearly with the password (seconds for 256 hostile
 *   characters, and out of memory for some shapes), so only the first SCORED_PREFIX code points
 *   are scored, as zxcvbn's authors advise for long inputs. A password whose prefix is strong is
 *   strong (an attacker must guess the whole of it); one whose prefix is guessable is refused —
 *   stricter than scoring the whole, never looser. The rest is checked cheaply by the caller
 *   (length bounds in code points);
 * - even a bounded score costs tens of milliseconds on a loaded machine, so it runs on a small
 *   pool of worker threads (STRENGTH_WORKERS), never on the event loop;
 * - the pool is bounded: at most STRENGTH_QUEUE checks wait, each check is given
 *   STRENGTH_TIMEOUT_MS (a worker that overruns is terminated and replaced); beyond either bound
 *   the request is refused with 503 `password_check_unavailable` (Retry-After), never queued
 *   without end;
 * - user inputs (e-mail, name) are bounded too (they are zxcvbn dictionary words).
 */
import { Worker } from 'node:worker_threads';
import { domainError } from '../../errors';

export const SCORED_PREFIX = 32;
const STRENGTH_WORKERS = 1;
const STRENGTH_QUEUE = 32;
const STRENGTH_TIMEOUT_MS = 10_000;
const MAX_INPUT_CHARS = 100;

const WORKER_URL = new URL('./strength-worker.mjs', import.meta.url);

export interface StrengthResult {
  score: number;
  warning: string;
  suggestions: string[];
}

interface Job {
  id: number;
  password: string;
  inputs: string[];
  resolve(r: StrengthResult): void;
  reject(e: unknown): void;
  timer?: NodeJS.Timeout;
}

const unavailable = (detail: string, cause?: unknown) =>
  domainError('password_check_unavailable', 'The password check is busy; try again shortly.', { detail, retryAfterSeconds: 1, cause });

interface Slot {
  worker: Worker;
  job?: Job;
}

let nextId = 1;
const slots: Slot[] = [];
const queue: Job[] = [];

function spawn(): Slot {
  const slot: Slot = { worker: new Worker(WORKER_URL) };
  slot.worker.on('message', (m: { id: number; error?: string } & StrengthResult) => {
    const job = slot.job;
    if (!job || job.id !== m.id) return;
    clearTimeout(job.timer);
    slot.job = undefined;
    if (m.error) job.reject(unavailable(`strength worker: ${m.error}`));
    else job.resolve({ score: m.score, warning: m.warning, suggestions: m.suggestions });
    pump();
  });
  const fail = (err: unknown) => {
    const job = slot.job;
    slot.job = undefined;
    const i = slots.indexOf(slot);
    if (i >= 0) slots.splice(i, 1);
    if (job) {
      clearTimeout(job.timer);
      job.reject(unavailable('strength worker exited', err));
    }
    pump();
  };
  slot.worker.on('error', fail);
  slot.worker.on('exit', (code) => fail(new Error(`exit ${code}`)));
  // After the listeners (adding a 'message' listener refs the worker's port again): an idle
  // pool never keeps a process alive (the CLI's create-admin exits when done).
  slot.worker.unref();
  slots.push(slot);
  return slot;
}

function pump(): void {
  while (queue.length) {
    let slot = slots.find((s) => !s.job);
    if (!slot && slots.length < STRENGTH_WORKERS) slot = spawn();
    if (!slot) return;
    const job = queue.shift()!;
    slot.job = job;
    const s = slot;
    job.timer = setTimeout(() => {
      // The worker is stuck on this job: replace it (its exit handler rejects the job).
      void s.worker.terminate();
    }, STRENGTH_TIMEOUT_MS);
    s.worker.postMessage({ id: job.id, password: job.password, inputs: job.inputs });
  }
}

/** The first `n` code points of `s`. */
export const prefixOf = (s: string, n: number): string => {
  let out = '';
  let i = 0;
  for (const ch of s) {
    if (i++ >= n) break;
    out += ch;
  }
  return out;
};

/** zxcvbn's score of the password's first SCORED_PREFIX code points, computed off the event loop. */
export function scorePassword(password: string, userInputs: string[]): Promise<StrengthResult> {
  if (queue.length >= STRENGTH_QUEUE) return Promise.reject(unavailable('strength queue full'));
  const inputs = userInputs.map((i) => prefixOf(i, MAX_INPUT_CHARS));
  return new Promise<StrengthResult>((resolve, reject) => {
    queue.push({ id: nextId++, password: prefixOf(password, SCORED_PREFIX), inputs, resolve, reject });
    pump();
  });
}
