import type { Docker } from './docker.js';
import { DockerError } from './docker.js';
import { messageOf } from './errors.js';
import { explainFailure } from './explain.js';
import type { Logger } from './log.js';
import { copyImage, mapLimit } from './registry/copy.js';
import type { Manifest, RegistryClient } from './registry/client.js';
import { PushRelay, type RelayTarget } from './registry/relay.js';
import { type RetryPolicy, isRetryableDockerError, withRetry } from './registry/retry.js';

/** One image name and the tags it gets, with the registry that holds it. */
export interface Target {
  /** As it appears in the `tags` output, e.g. `ghcr.io/acme/api`. */
  name: string;
  registry: string;
  repository: string;
  tags: string[];
}

export interface Report {
  /** Digest of what the registries hold (the index for multi-platform images). */
  digest: string;
  /** image:tag (or image@digest for push-by-digest) -> digest the registry reported. */
  digests: Record<string, string>;
  /** Per-platform manifest digests, for multi-platform pushes. */
  platforms: Record<string, string>;
  failed: { ref: string; error: string }[];
}

export const newReport = (): Report => ({ digest: '', digests: {}, platforms: {}, failed: [] });

/** Registries copied to side by side; more would only contend for one uplink. */
const PARALLEL_REGISTRIES = 4;
/** Manifest PUTs in flight: each is a few hundred bytes, so latency, not bandwidth, bounds them. */
const PARALLEL_PUTS = 8;

const PUSH_DIGEST = /: digest: (sha256:[a-f0-9]{64}) size: \d+/;

/** `docker push` with the project's retry policy (the daemon does not retry a manifest PUT). */
export async function dockerPush(
  docker: Docker,
  ref: string,
  registry: string,
  policy: RetryPolicy,
  log: Logger,
) {
  return withRetry(
    `push ${ref}`,
    async () => {
      try {
        const { stdout } = await docker.run(['push', ref]);
        const m = PUSH_DIGEST.exec(stdout);
        if (!m) throw new Error(`docker push ${ref} printed no digest:\n${stdout}`);
        return m[1];
      } catch (err) {
        if (!(err instanceof DockerError)) throw err;
        const verdict = isRetryableDockerError(err.stderr);
        throw Object.assign(explainFailure('Push', ref, registry, err), verdict);
      }
    },
    policy,
    log,
  );
}

export interface LocalPublishOptions {
  policy: RetryPolicy;
  log: Logger;
  /** Resolves once `docker login` is done: only a direct push needs it. */
  loggedIn: Promise<void>;
  /** Resolves once held-back tags are out of the targets: manifests wait for it, blobs do not. */
  tagsFinal: Promise<void>;
  /** The relay the image is tagged for, when the daemon runs on this machine. */
  relay?: RelayedImage;
}

/** A relay and the local name the image has for it. */
export interface RelayedImage {
  docker: Docker;
  relay: PushRelay;
  relayTargets: RelayTarget[];
  /** `127.0.0.1:<port>/<repository>:<tag>`: what the daemon pushes. */
  ref: string;
  /** The image has `ref` in the daemon (so it must lose it again). */
  tagged: boolean;
  /** The `docker rmi` of `ref`, once started. */
  untagged?: Promise<unknown>;
}

/** The daemon reaches 127.0.0.1 of this process only when it runs on this machine. */
export function daemonIsLocal(env: NodeJS.ProcessEnv = process.env): boolean {
  const host = env.DOCKER_HOST ?? '';
  return host === '' || host.startsWith('unix://') || host.startsWith('npipe://');
}

export async function startRelay(
  docker: Docker,
  targets: Target[],
  clients: (registry: string) => RegistryClient,
  tag: string,
  tmpDir: string,
  log: Logger,
): Promise<RelayedImage> {
  const relayTargets = targets.map((t) => ({ client: clients(t.registry), repo: t.repository }));
  const relay = await PushRelay.start({ targets: relayTargets, tmpDir, log });
  return {
    docker,
    relay,
    relayTargets,
    ref: `${relay.host}/${targets[0]!.repository}:${tag}`,
    tagged: false,
  };
}

/** Stops the relay and takes its name off the image. */
export async function stopRelay(r: RelayedImage): Promise<void> {
  if (r.tagged && !r.untagged) r.untagged = r.docker.run(['rmi', r.ref]);
  await r.untagged?.catch(() => undefined);
  await r.relay.close();
}

/**
 * Publishes a single-platform local image to every target. A local daemon pushes it once, to
 * the relay, which streams each blob to every registry at the same time: layers are
 * compressed once, uploads run side by side, and the daemon still skips layers every registry
 * has. Every tag is then a manifest PUT. A daemon that cannot reach the relay (remote
 * DOCKER_HOST, a daemon in a VM) gets the direct path instead.
 */
export async function publishLocalImage(
  docker: Docker,
  image: string,
  targets: Target[],
  clients: (registry: string) => RegistryClient,
  opts: LocalPublishOptions,
  report: Report,
): Promise<void> {
  if (opts.relay && (await publishThroughRelay(docker, opts.relay, targets, clients, opts, report))) return;
  await Promise.all([opts.loggedIn, opts.tagsFinal]);
  const live = targets.filter((t) => t.tags.length > 0);
  if (live.length) await publishDirect(docker, image, live, clients, opts.policy, opts.log, report);
}

/** Returns false, having pushed nothing, when the daemon never reached the relay. */
async function publishThroughRelay(
  docker: Docker,
  r: RelayedImage,
  targets: Target[],
  clients: (registry: string) => RegistryClient,
  opts: LocalPublishOptions,
  report: Report,
): Promise<boolean> {
  const { log } = opts;
  const pushed = docker.run(['push', r.ref]);
  // Untagged once the CLI is done, side by side with the uploads' last steps.
  r.untagged = pushed.then(
    () => docker.run(['rmi', r.ref]),
    () => docker.run(['rmi', r.ref]),
  );
  let manifest: Manifest | undefined;
  try {
    // The manifest is the daemon's last word: the tags need not wait for its CLI to exit.
    manifest = await Promise.race([r.relay.manifestArrived, pushed.then(() => r.relay.manifest)]);
  } catch (err) {
    if (r.relay.requests === 0) {
      log.info(`The docker daemon could not reach ${r.relay.host}; pushing to each registry directly.`);
      return false;
    }
    await opts.tagsFinal;
    const first = targets[0]!;
    const error = messageOf(explainFailure('Push', `${first.name}:${first.tags[0]}`, first.registry, err));
    for (const t of targets) for (const tag of t.tags) report.failed.push({ ref: `${t.name}:${tag}`, error });
    return true;
  }
  if (!manifest) throw new Error(`docker push ${r.ref} sent no manifest`);
  pushed.catch((err: unknown) =>
    log.debug(`docker push ${r.ref} complained after its manifest: ${messageOf(err)}`),
  );
  const [failures] = await Promise.all([r.relay.settle(), opts.tagsFinal]);
  const refs = targets.flatMap((t, i) =>
    t.tags.map((tag) => ({ t, tag, failure: failures.get(r.relayTargets[i]!) })),
  );
  const outcomes = await mapLimit(refs, PARALLEL_PUTS, async ({ t, tag, failure }) => {
    const ref = `${t.name}:${tag}`;
    try {
      if (failure) throw failure;
      return {
        ref,
        digest: await clients(t.registry).putManifest(t.repository, tag, manifest.body, manifest.mediaType),
      };
    } catch (err) {
      return { ref, error: messageOf(explainFailure('Push', ref, t.registry, err)) };
    }
  });
  // Reported in the order of the plan, whatever order the PUTs finished in.
  for (const o of outcomes) {
    if (o.digest === undefined) report.failed.push({ ref: o.ref, error: o.error! });
    else {
      report.digests[o.ref] = o.digest;
      report.digest = o.digest;
      log.info(`Pushed ${o.ref} ${o.digest}`);
    }
  }
  return true;
}

/**
 * The daemon pushes to the first target, every other tag is a manifest PUT, and every other
 * repository gets the same blobs copied through the registry API (mounted within a registry).
 */
async function publishDirect(
  docker: Docker,
  imageId: string,
  live: Target[],
  clients: (registry: string) => RegistryClient,
  policy: RetryPolicy,
  log: Logger,
  report: Report,
): Promise<void> {
  const [first, ...others] = live as [Target, ...Target[]];
  const firstRef = `${first.name}:${first.tags[0]}`;
  await docker.run(['tag', imageId, firstRef]);
  let digest: string;
  try {
    digest = await dockerPush(docker, firstRef, first.registry, policy, log);
  } catch (err) {
    // Nothing reached any registry: record every ref, and let assertAllPushed name them all.
    for (const t of live)
      for (const tag of t.tags) report.failed.push({ ref: `${t.name}:${tag}`, error: messageOf(err) });
    return;
  }
  report.digests[firstRef] = digest;
  report.digest = digest;
  log.info(`Pushed ${firstRef} ${digest}`);
  const source = clients(first.registry);
  const manifest = await source.getManifest(first.repository, digest);

  const jobs: Promise<void>[] = [];
  // The remaining tags of the first repository: manifest PUTs, nothing else.
  jobs.push(
    mapLimit(first.tags.slice(1), PARALLEL_REGISTRIES, async (tag) => {
      const ref = `${first.name}:${tag}`;
      try {
        report.digests[ref] = await source.putManifest(
          first.repository,
          tag,
          manifest.body,
          manifest.mediaType,
        );
        log.info(`Pushed ${ref} ${report.digests[ref]}`);
      } catch (err) {
        report.failed.push({ ref, error: messageOf(explainFailure('Push', ref, first.registry, err)) });
      }
    }).then(() => undefined),
  );
  jobs.push(
    mapLimit(others, PARALLEL_REGISTRIES, async (t) => {
      try {
        const got = await copyImage({
          from: { client: source, repo: first.repository, ref: digest, manifest },
          to: { client: clients(t.registry), repo: t.repository },
          tags: t.tags,
          log,
        });
        for (const [tag, d] of Object.entries(got)) {
          report.digests[`${t.name}:${tag}`] = d;
          log.info(`Pushed ${t.name}:${tag} ${d}`);
        }
      } catch (err) {
        const error = messageOf(explainFailure('Push', `${t.name}:${t.tags[0]}`, t.registry, err));
        for (const tag of t.tags)
          if (!report.digests[`${t.name}:${tag}`]) report.failed.push({ ref: `${t.name}:${tag}`, error });
      }
    }).then(() => undefined),
  );
  await Promise.all(jobs);
}

/** Fails the step when anything was not pushed, saying what was and what was not. */
export function assertAllPushed(report: Report): void {
  if (report.failed.length === 0) return;
  const pushed = Object.keys(report.digests);
  const reasons = [...new Set(report.failed.map((f) => f.error))];
  throw new Error(
    `${reasons.join('\n')}\nNot pushed: ${report.failed.map((f) => f.ref).join(', ')}.` +
      (pushed.length ? ` Pushed: ${pushed.join(', ')}.` : ' Nothing was pushed.'),
  );
}
