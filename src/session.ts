/**
 * One step's session with docker and the registries: the `source` inspect, every credential
 * checked, `docker login` where docker needs it, the registry clients, a private directory for
 * spooled blobs; and its end, which removes the step's credentials.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import * as os from 'node:os';
import * as path from 'node:path';
import * as core from '@actions/core';
import { Docker } from './docker/cli.js';
import { Engine, engineSocket, type EngineAuth } from './docker/engine.js';
import { inspectSource, type LocalImage } from './docker/inspect.js';
import { checkLogin, createConfigDir, dockerLogin, userDockerConfigDir } from './docker/login.js';
import type { Target } from './engine/push.js';
import { leftCredentials } from './errors.js';
import type { Inputs } from './inputs.js';
import type { Logger } from './log.js';
import { stepClients, type StepClients } from './registry/clients.js';
import { type CredentialLookup, dockerConfigCredentials } from './registry/credentials.js';
import { DOCKER_HUB } from './registry/reference.js';
import { DEFAULT_RETRY, type RetryPolicy } from './registry/retry.js';

/** The docker side and the registry clients of one step, and where its temporary files go. */
export interface Session extends StepClients {
  docker: Docker;
  /** The step's own Docker config, when it logs in itself (removed when the step ends). */
  configDir?: string;
  tmp: string;
  /** Resolves once every credential is proven (our own check, before anything is built). */
  checked: Promise<void>;
  /** Resolves once `docker login` ran for every registry (docker's own pulls and pushes). */
  loggedIn: Promise<void>;
  /** The `source` image as the daemon describes it. */
  source?: Promise<LocalImage>;
  /** The step's own credentials for a registry, for a push through the Engine API. */
  auth: (registry: string) => EngineAuth | undefined;
}

/**
 * Starts what only waits on docker or a registry, without waiting for it: the `source` inspect
 * (alone first: a missing image is a bad input, said before any registry hears from us), then
 * every credential check side by side and, once a registry's check passed, its `docker login`,
 * while the caller goes on (a build, or the registry reads of a local image's publish).
 */
export async function openSession(
  s: { inputs: Inputs; env: NodeJS.ProcessEnv; targets: Target[] },
  logger: Logger,
): Promise<Session> {
  const { inputs, env } = s;
  const policy: RetryPolicy = {
    ...DEFAULT_RETRY,
    attempts: inputs.retryAttempts,
    totalMs: inputs.retryTimeoutSeconds * 1000,
  };
  const userConfig = userDockerConfigDir();
  const socket = engineSocket(env, userConfig);
  // A config of our own only where docker logs in: nothing on disk holds a token otherwise.
  let configDir: string | undefined;
  if (inputs.logins.length && dockerNeedsLogin(inputs, socket)) {
    configDir = await createConfigDir(env.RUNNER_TEMP ?? '', userConfig);
    core.saveState('configDir', configDir);
    core.saveState('logout', String(inputs.logout));
  }
  const docker = new Docker(logger, configDir, socket ? new Engine(socket) : undefined);
  const dockerCredentials = dockerConfigCredentials(userConfig);
  const regs = stepClients({
    logins: inputs.logins,
    dockerCredentials,
    pushRegistries: s.targets.map((t) => t.registry),
    policy,
    log: logger,
  });
  const tmp = await mkdtemp(path.join(env.RUNNER_TEMP || os.tmpdir(), 'publish-image-blobs-'));
  const source = inputs.source ? inspectSource(docker, inputs.source) : undefined;
  // A missing source is a bad input: found out before any registry hears from us.
  const sourceFound = source?.then(() => undefined) ?? Promise.resolve();
  const checks = inputs.logins.map(async (l) => {
    await sourceFound;
    const repositories = [
      ...new Set(s.targets.filter((t) => t.registry === l.registry).map((t) => t.repository)),
    ];
    return checkLogin(regs.clients(l.registry), l, repositories);
  });
  const dockerChecks = readDockerCredentials(inputs, s.targets, dockerCredentials, sourceFound);
  const checked = Promise.all([...checks, ...dockerChecks]).then(() => undefined);
  const loggedIn = configDir
    ? loginOneByOne(docker, inputs, checks, policy, logger)
    : checked.then(() => {
        for (const l of inputs.logins)
          core.info(
            `Signed in to ${l.registry} as ${l.username} (docker gets the credentials with each push)`,
          );
      });
  for (const p of [source, checked, loggedIn]) p?.catch(() => undefined); // each awaited later
  const auth = (registry: string) => {
    const l = inputs.logins.find((x) => x.registry === registry);
    return l && { username: l.username, password: l.password, serveraddress: serverAddress(registry) };
  };
  return { ...regs, docker, configDir, tmp, checked, loggedIn, source, auth };
}

/**
 * docker's own credentials for the targets the step has no login for, read (their helpers run)
 * before docker runs: a helper that fails stops the step here, before docker, which passes on
 * whatever a helper prints, could put it in the log.
 */
function readDockerCredentials(
  inputs: Inputs,
  targets: Target[],
  lookup: CredentialLookup,
  after: Promise<void>,
): Promise<void>[] {
  const registries = [...new Set(targets.map((t) => t.registry))];
  return registries
    .filter((r) => !inputs.logins.some((l) => l.registry === r))
    .map(async (r) => {
      await after;
      await lookup(r);
    });
}

/**
 * Whether docker itself needs the step's logins: for a build (FROM, --pull, cache), for later
 * steps (`logout: false`) and for pushes through the CLI. A `source` image pushed through the
 * daemon's socket does not: each push carries the credentials, and no config.json holds them.
 */
function dockerNeedsLogin(inputs: Inputs, socket: string | undefined): boolean {
  return !inputs.source || !inputs.logout || !socket;
}

/** The address docker files a registry's credentials under (Docker Hub's is historical). */
const serverAddress = (registry: string) =>
  registry === DOCKER_HUB ? 'https://index.docker.io/v1/' : registry;

/**
 * `docker login` one after another (concurrent writes to one config.json can lose a
 * credential), each once its credentials passed our check: a wrong token never reaches docker,
 * whose probe would answer it like a flaky registry.
 */
async function loginOneByOne(
  docker: Docker,
  inputs: Inputs,
  checks: Promise<void>[],
  policy: RetryPolicy,
  logger: Logger,
): Promise<void> {
  for (const [i, l] of inputs.logins.entries()) {
    await checks[i];
    await dockerLogin(docker, l, policy, logger);
  }
}

/**
 * Removes what the step made for itself; its credentials too, unless `logout: false`. Credentials
 * that cannot be removed fail the step (a warning would let it succeed, and then post-if skips
 * the post step, so nothing would try again): thrown, or said as an error beside the failure
 * the step already has (`failing`). The state keeps the directory for the post step to retry.
 */
export async function closeSession(session: Session, inputs: Inputs, failing = false): Promise<void> {
  await rm(session.tmp, { recursive: true, force: true });
  if (!session.configDir || !inputs.logout) return;
  await session.loggedIn.catch(() => undefined); // docker may still be writing config.json
  try {
    await rm(session.configDir, { recursive: true, force: true });
  } catch (err) {
    const said = leftCredentials(session.configDir, err);
    if (failing) return core.error(said);
    throw new Error(said, { cause: err });
  }
  // The post step then finds nothing to do and starts and ends without loading the toolkit.
  core.saveState('configDir', '');
  core.info('Removed the registry credentials of this step');
}
