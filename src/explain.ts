import { DockerError } from './docker/cli.js';
import { messageOf } from './errors.js';
import { RegistryError } from './registry/retry.js';
import { AccessDeniedError, deniedMessage } from './registry/denied.js';

/** What docker or a registry said, as one sentence a person can act on. */
export class ActionableError extends Error {
  retryable = false;
  retryAfterMs?: number;
  constructor(message: string) {
    super(message);
    this.name = 'ActionableError';
  }
}

const isHub = (registry: string) => registry === 'docker.io';

function said(err: unknown): string {
  if (err instanceof DockerError) return err.stderr.trim();
  return messageOf(err);
}

function statusOf(err: unknown): number | undefined {
  return err instanceof RegistryError ? err.status : undefined;
}

export function explainLoginFailure(registry: string, username: string, err: unknown): ActionableError {
  // Credentials accepted, repository refused: a login hint would send the user the wrong way.
  if (err instanceof AccessDeniedError) return new ActionableError(deniedMessage(err));
  const text = said(err);
  const status = statusOf(err);
  if (status === 401 || status === 403 || /\b401\b|unauthorized|incorrect username or password/i.test(text)) {
    const hint = isHub(registry)
      ? ' Docker Hub needs a personal access token (Account settings > Personal access tokens) as password, not the account password.'
      : ' Check the username and password inputs (the token may be expired or lack the registry scope).';
    return new ActionableError(
      `Login to ${registry} as ${username} failed: the registry rejected the credentials (401 Unauthorized).${hint}`,
    );
  }
  const daemon = explainDaemon(text);
  if (daemon) return daemon;
  return new ActionableError(`Login to ${registry} as ${username} failed: ${text}`);
}

function explainDaemon(text: string): ActionableError | undefined {
  if (/Cannot connect to the Docker daemon|Is the docker daemon running|docker\.sock: connect/i.test(text))
    return new ActionableError(
      `The Docker daemon is not running or not reachable${process.env.DOCKER_HOST ? ` at DOCKER_HOST=${process.env.DOCKER_HOST}` : ''}: start docker on the runner (or set DOCKER_HOST). docker said: ${text}`,
    );
  return undefined;
}

/** A failed build, push or registry call, translated. */
export function explainFailure(what: string, ref: string, registry: string, err: unknown): ActionableError {
  if (err instanceof ActionableError) return err;
  if (err instanceof AccessDeniedError)
    return new ActionableError(`${what} of ${ref} failed. ${deniedMessage(err)}`);
  const text = said(err);
  const status = statusOf(err);
  const code = err instanceof RegistryError ? err.code : undefined;
  const daemon = explainDaemon(text);
  let message: string;
  if (daemon) return daemon;
  if (/repository name must be lowercase|must be lowercase/i.test(text))
    message = `${ref}: image names must be lower case; fix the images input.`;
  else if (/pull access denied/i.test(text))
    message = `${what} failed: a base image could not be pulled ("pull access denied"). It is private or its name is wrong: check the FROM lines, and log in to its registry (registry-auth) if it is private. docker said: ${text}`;
  else if (
    code === 'NAME_UNKNOWN' ||
    (status === 404 && /(repository|project) .*(not found|does not exist)/i.test(text))
  )
    message = `${what} of ${ref} failed: the repository ${ref.replace(/[:@][^/:@]*$/, '')} does not exist on ${registry}. Create it first (ECR repositories, Artifact Registry repositories and Harbor projects must exist before a push), or fix the images input. Registry said: ${text}`;
  else if (/toomanyrequests|\b429\b|rate limit/i.test(text) || status === 429)
    message = `${what} of ${ref} failed: ${registry} rate-limited us (toomanyrequests). Docker Hub limits anonymous pulls; logging in (username/password) raises the limit, or retry later. Registry said: ${text}`;
  else if (
    /no basic auth credentials|authentication required/i.test(text) ||
    status === 401 ||
    code === 'UNAUTHORIZED'
  )
    message = `${what} of ${ref} failed: not logged in to ${registry}. Give username/password (or registry-auth) for ${registry}, or log in in an earlier step.`;
  else if (/denied|forbidden/i.test(text) || status === 403 || code === 'DENIED') {
    const repo = ref.replace(/:[^/:]*$/, '');
    const bare = isHub(registry) && /^(docker\.io\/)?(library\/)?[^/]+$/.test(repo);
    message = bare
      ? `${what} of ${ref} was denied: Docker Hub images need a namespace, like ${'<your-user>/' + repo.split('/').pop()}; fix the images input.`
      : `${what} of ${ref} was denied: the user cannot write to this repository. Check that the namespace in the images input exists and belongs to the user, and that the token has write (push) permission.`;
  } else message = `${what} of ${ref} failed: ${text}`;
  const out = new ActionableError(message);
  if (err instanceof RegistryError) out.retryable = err.retryable;
  return out;
}
