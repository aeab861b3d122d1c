import { imageSize } from '../docker/build.js';
import type { Docker } from '../docker/cli.js';
import { messageOf } from '../errors.js';
import { explainFailure } from '../explain.js';
import type { Logger } from '../log.js';
import { isMediaTypeRefusal, MEDIA_TYPES, type Manifest, type RegistryClient } from '../registry/client.js';
import { dockerManifestToOci } from '../registry/oci.js';
import type { RegistryError } from '../registry/retry.js';
import { mapLimit } from './copy.js';
import { PushRelay, type RelayTarget } from './relay.js';
import { knownBlobs, relaySavedImage, type SavedImage } from './saved.js';

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
  /** Per-platform manifest digests, for multi-platform pushes (and attested images). */
  platforms: Record<string, string>;
  /** Per-platform attestation manifest digests, when provenance is attached. */
  attestations?: Record<string, string>;
  failed: { ref: string; error: string }[];
}

export const newReport = (): Report => ({ digest: '', digests: {}, platforms: {}, failed: [] });

/** Manifest PUTs in flight: each is a few hundred bytes, so latency, not bandwidth, bounds them. */
const PARALLEL_PUTS = 8;

export interface LocalPublishOptions {
  log: Logger;
  /** Resolves once held-back tags are out of the targets: manifests wait for it, blobs do not. */
  tagsFinal: Promise<void>;
  /** Where blobs are spooled while they stream. */
  tmpDir: string;
  /**
   * What the tags name instead of the image manifest (provenance: an index over it and its
   * attestation), made once the image's blobs are everywhere.
   */
  root?: (image: SavedImage, targets: RelayTarget[]) => Promise<Manifest>;
}

/**
 * Publishes a single-platform image of the daemon to every target. `docker save` hands over
 * its layers uncompressed; each is compressed once, by us, while a relay streams it to every
 * registry at the same time (mounted into the other repositories of a registry). Every tag is
 * then one manifest PUT.
 */
export async function publishLocalImage(
  docker: Docker,
  image: string,
  targets: Target[],
  clients: (registry: string) => RegistryClient,
  opts: LocalPublishOptions,
  report: Report,
): Promise<void> {
  const relayTargets: RelayTarget[] = targets.map((t) => ({
    client: clients(t.registry),
    repo: t.repository,
  }));
  const relay = await PushRelay.start({ targets: relayTargets, tmpDir: opts.tmpDir, log: opts.log });
  try {
    let manifest: SavedImage;
    try {
      // Asked while docker starts the export: what the registries hold from an earlier push.
      const tags = targets.map((t) => [...t.tags]);
      const known = knownBlobs(relayTargets, tags, opts.log);
      // The image's size: the export's total on its progress line.
      const read = { known, tmpDir: opts.tmpDir, size: imageSize(docker, image) };
      const save = await docker.stream(['save', image]);
      // When both fail, docker's own words ("No such image", a daemon error) say more than a
      // cut-off archive does.
      [manifest] = await Promise.all([
        relaySavedImage(save.stdout, relay, read).catch(async (err: unknown) => {
          save.stdout.destroy(); // docker exits instead of blocking on a pipe nobody reads
          const said = await save.done.then(
            () => undefined,
            (e: unknown) => e,
          );
          throw said && !/broken pipe|EPIPE/i.test(messageOf(said)) ? said : err;
        }),
        save.done,
      ]);
    } catch (err) {
      await opts.tagsFinal;
      const error = `Could not read image ${image} from the docker daemon: ${messageOf(err)}`;
      for (const t of targets)
        for (const tag of t.tags) report.failed.push({ ref: `${t.name}:${tag}`, error });
      return;
    }
    const [failures] = await Promise.all([relay.settle(), opts.tagsFinal]);
    let root: Manifest = manifest;
    if (opts.root) {
      try {
        root = await opts.root(
          manifest,
          relayTargets.filter((t) => !failures.has(t)),
        );
      } catch (err) {
        for (const t of targets)
          for (const tag of t.tags)
            report.failed.push({
              ref: `${t.name}:${tag}`,
              error: messageOf(explainFailure('Push', t.name, t.registry, err)),
            });
        return;
      }
    }
    const refs = targets.flatMap((t, i) =>
      t.tags.map((tag) => ({ t, tag, failure: failures.get(relayTargets[i]!) })),
    );
    const put = manifestPutter(root, clients, opts.log);
    const outcomes = await mapLimit(refs, PARALLEL_PUTS, async ({ t, tag, failure }) => {
      const ref = `${t.name}:${tag}`;
      try {
        if (failure) throw failure;
        return { ref, digest: await put(t, tag) };
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
        opts.log.info(`Pushed ${o.ref} ${o.digest}`);
      }
    }
  } finally {
    await relay.close();
  }
}

/**
 * PUTs `manifest` under a tag; a registry that refuses Docker media types (zot) gets the same
 * image under OCI media types instead, from its first refusal on, and the log says so once.
 */
function manifestPutter(
  manifest: Manifest,
  clients: (registry: string) => RegistryClient,
  log: Logger,
): (t: Target, tag: string) => Promise<string> {
  const oci = new Map<string, ReturnType<typeof dockerManifestToOci>>();
  return async (t, tag) => {
    const client = clients(t.registry);
    const converted = oci.get(t.registry);
    if (converted) return client.putManifest(t.repository, tag, converted.body, converted.mediaType);
    try {
      return await client.putManifest(t.repository, tag, manifest.body, manifest.mediaType);
    } catch (err) {
      if (!isMediaTypeRefusal(err) || manifest.mediaType !== MEDIA_TYPES.dockerManifest) throw err;
      let m = oci.get(t.registry);
      if (!m) {
        m = dockerManifestToOci(manifest.body);
        oci.set(t.registry, m);
        log.info(
          `${t.registry} refuses Docker media types (${(err as RegistryError).reason}); pushing the same image with OCI media types there (${m.digest})`,
        );
      }
      return client.putManifest(t.repository, tag, m.body, m.mediaType);
    }
  };
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
