/** A bad input value, caught before any docker or registry work. */
export class InputError extends Error {
  constructor(
    readonly input: string,
    readonly value: string,
    reason: string,
  ) {
    super(`Input "${input}": ${reason} (got: ${JSON.stringify(value)})`);
    this.name = 'InputError';
  }
}

/** Message of any thrown value, for the one failure path. */
export function messageOf(err: unknown): string {
  if (err instanceof Error) return err.message;
  return String(err);
}

/** The registry credentials could not be removed: one line, where they are and why. */
export function leftCredentials(dir: string, err: unknown): string {
  return `The registry credentials of this step are still on the runner in ${dir}: removing them failed (${messageOf(err).replace(/\s+/g, ' ')}). Delete that directory.`;
}
