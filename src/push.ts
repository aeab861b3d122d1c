import type { Docker } from './docker.js';
import { DockerError } from './docker.js';
import { messageOf } from './errors.js';
import { explainFailure } from './explain.js';
import type { Logger } from './log.js';
import { copyImage, mapLimit } from './registry/copy.js';
import type { RegistryClient } from './registry/client.js';
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

/**
 * Publishes a single-platform local image to every target. The daemon pushes it once, to the
 * first target, compressing the layers once (and reusing base layers it knows the registry
 * has); every other tag is a manifest PUT and every other repository gets the same blobs
 * copied through the registry API (mounted within a registry), several registries at once.
 */
export async function publishLocalImage(
  docker: Docker,
  imageId: string,
  targets: Target[],
  clients: (registry: string) => RegistryClient,
  policy: RetryPolicy,
  log: Logger,
  report: Report,
): Promise<void> {
  const [first, ...others] = targets.filter((t) => t.tags.length > 0);
  if (!first) return;
  const firstRef = `${first.name}:${first.tags[0]}`;
  await docker.run(['tag', imageId, firstRef]);
  let digest: string;
  try {
    digest = await dockerPush(docker, firstRef, first.registry, policy, log);
  } catch (err) {
    // Nothing reached any registry: record every ref, and let assertAllPushed name them all.
    for (const t of targets)
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
