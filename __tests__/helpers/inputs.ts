/** The runner's inputs as INPUT_* variables, and what the toolkit writes to stdout, for unit tests. */
import { afterEach, beforeEach, jest } from '@jest/globals';

/** Replaces every INPUT_* variable with `inputs` (names upper-cased, as the runner does). */
export function setInputs(inputs: Record<string, string>): void {
  for (const k of Object.keys(process.env)) if (k.startsWith('INPUT_')) delete process.env[k];
  for (const [k, v] of Object.entries(inputs)) process.env[`INPUT_${k.toUpperCase()}`] = v;
}

/** Captures stdout (workflow commands such as ::add-mask::) for each test; read `lines()`. */
export function captureStdout(): { lines: () => string[] } {
  let written: string[] = [];
  beforeEach(() => {
    written = [];
    jest.spyOn(process.stdout, 'write').mockImplementation((s: string | Uint8Array) => {
      written.push(String(s));
      return true;
    });
  });
  afterEach(() => {
    jest.restoreAllMocks();
  });
  return { lines: () => written };
}
