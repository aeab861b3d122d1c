/**
 * The step's secrets: each one masked in the runner's log the moment it exists (the inputs'
 * tokens, and whatever is derived from them: bearer tokens, the Docker Hub JWT, the
 * X-Registry-Auth value), and the environment a child process gets, which holds none of them.
 */
import * as core from '@actions/core';

const known = new Set<string>();

/** Masks `value` in the log from now on and keeps it from every child's environment. */
export function maskSecret(value: string | undefined): void {
  if (!value || known.has(value)) return; // once is enough (a header is made for every push)
  known.add(value);
  core.setSecret(value);
}

/** A token and the base64 forms docker and registries may echo, every one masked. */
export function maskCredential(username: string, password: string): void {
  maskSecret(password);
  maskSecret(Buffer.from(`${username}:${password}`).toString('base64'));
  maskSecret(Buffer.from(password).toString('base64'));
}

/**
 * Variables no child needs: the runner passes every input as INPUT_<NAME> (tokens among them)
 * and the saved state as STATE_<name>; ACTIONS_* and GITHUB_TOKEN carry the job's own tokens.
 */
const WITHHELD =
  /^(INPUT_|STATE_)|^(ACTIONS_RUNTIME_TOKEN|ACTIONS_ID_TOKEN_REQUEST_(TOKEN|URL)|GITHUB_TOKEN)$/i;

/**
 * The environment for a child process: ours without the withheld variables and without any
 * variable whose value holds a known secret (a workflow may put a token in `env:` too), plus
 * `extra`, the values that child alone needs.
 */
export function childEnv(
  extra: Record<string, string> = {},
  env: NodeJS.ProcessEnv = process.env,
): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [key, value] of Object.entries(env)) {
    if (value === undefined || WITHHELD.test(key)) continue;
    if ([...known].some((s) => holds(value, s))) continue;
    out[key] = value;
  }
  return { ...out, ...extra };
}

/**
 * Whether a variable's value holds a secret: equal to it, or containing it once the secret is
 * long enough to mean it (a one-letter test password is in every PATH).
 */
function holds(value: string, secret: string): boolean {
  return value === secret || (secret.length >= 8 && value.includes(secret));
}
