/** Types of scripts/build-console.mjs (imported by tests). */
export function consoleIsStale(): boolean;
export function buildConsole(): Promise<void>;
/** Builds only when stale (under the build lock); true when it built. */
export function ensureConsoleBuilt(): Promise<boolean>;
