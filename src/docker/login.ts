import { chmod, mkdtemp, readFile, symlink, writeFile } from 'node:fs/promises';
import { existsSync } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { Docker, DockerError } from './cli.js';
import type { RegistryLogin } from '../inputs.js';
import type { Logger } from '../log.js';
import type { RegistryClient } from '../registry/client.js';
import { type RetryPolicy, isRetryableDockerError, withRetry } from '../registry/retry.js';
import { ActionableError, explainLoginFailure } from '../explain.js';

/**
 * A Docker config directory of our own (0700, config 0600) under RUNNER_TEMP, so parallel jobs
 * on one runner never share or overwrite tokens, and the post step can delete it whole.
 * It starts from the user's existing config (minus credential stores) so registries they
 * logged in to earlier, e.g. with a cloud login action, still work for pulls.
 */
export async function createConfigDir(runnerTemp: string, userConfigDir: string): Promise<string> {
  const dir = await mkdtemp(path.join(runnerTemp || os.tmpdir(), 'publish-image-docker-'));
  await chmod(dir, 0o700);
  const target = path.join(dir, 'config.json');
  const source = path.join(userConfigDir, 'config.json');
  let config: Record<string, unknown> = {};
  if (existsSync(source)) {
    try {
      config = JSON.parse(await readFile(source, 'utf8')) as Record<string, unknown>;
    } catch {
      config = {};
    }
    // A credential store would write our tokens somewhere that outlives the job.
    delete config.credsStore;
    delete config.credHelpers;
  }
  await writeFile(target, JSON.stringify(config, null, 2), { mode: 0o600 });
  // Keep plugins reachable (buildx lives there).
  const plugins = path.join(userConfigDir, 'cli-plugins');
  if (existsSync(plugins)) await symlink(plugins, path.join(dir, 'cli-plugins')).catch(() => undefined);
  return dir;
}

/** Where docker keeps its config when we do not log in ourselves. */
export function userDockerConfigDir(): string {
  return process.env.DOCKER_CONFIG || path.join(os.homedir(), '.docker');
}

/**
 * Proves the credentials before anything is pushed. docker reports a 5xx on the registry's
 * /v2/ probe as "401 Unauthorized", exactly like a wrong token, so only our own check can tell
 * a flaky registry (retry) from bad credentials (fail at once).
 */
export async function checkLogin(
  client: RegistryClient,
  cred: RegistryLogin,
  repositories: string[],
): Promise<void> {
  try {
    // Every target repository, side by side: on a token registry push access is granted per
    // repository, so a release to `me/app` and `otheruser/app` is refused before it builds
    // rather than half pushed.
    await Promise.all((repositories.length ? repositories : ['']).map((r) => client.checkCredentials(r)));
  } catch (err) {
    throw explainLoginFailure(cred.registry, cred.username, err);
  }
}

/** `docker login` with the token on stdin, for docker's own pulls and pushes and later steps. */
export async function dockerLogin(
  docker: Docker,
  cred: RegistryLogin,
  policy: RetryPolicy,
  log: Logger,
): Promise<void> {
  await withRetry(
    `docker login ${cred.registry}`,
    async () => {
      try {
        await docker.run(['login', '--username', cred.username, '--password-stdin', cred.registry], {
          stdin: cred.password,
        });
      } catch (err) {
        if (!(err instanceof DockerError)) throw err;
        // A 401 is never tried again: were it a refused token, each try would count against the
        // account (Docker Hub locks it out after a few), and docker cannot tell it from a flaky
        // probe, so saying it at once is the only safe answer.
        if (/\b401\b|unauthorized/i.test(err.stderr)) throw new ActionableError(refusedMessage(cred));
        const verdict = isRetryableDockerError(err.stderr);
        throw Object.assign(explainLoginFailure(cred.registry, cred.username, err), {
          retryable: verdict.retryable,
          reason: verdict.reason,
          retryAfterMs: verdict.retryAfterMs,
        });
      }
    },
    policy,
    log,
  );
  // docker writes config.json itself; make sure it is private whatever its umask.
  if (docker.configDir) await chmod(path.join(docker.configDir, 'config.json'), 0o600).catch(() => undefined);
  log.info(`Logged in to ${cred.registry} as ${cred.username}`);
}

/** docker login's 401: the token refused, though our own check had just accepted it. */
function refusedMessage(cred: RegistryLogin): string {
  return `docker login to ${cred.registry} as ${cred.username} failed: the registry refused the token (401 Unauthorized), though the step's own check of it had just passed. Not tried again. Check that the token is valid for ${cred.registry}; if it is, the registry's /v2/ endpoint may have failed (docker reports a 5xx there as 401).`;
}
