/**
 * The two paths that export nothing: `docker push` of one tag whose base layers the daemon
 * knows, then every other tag and target from the registry (`daemon push`); or a manifest a
 * registry already holds, copied everywhere (`registry copy`). Blobs go registry to registry
 * as they are, so every target lists the same digests.
 */
import type { Docker } from '../docker/cli.js';
import { messageOf } from '../errors.js';
import { explainFailure } from '../explain.js';
import type { Logger } from '../log.js';
import type { Manifest, RegistryClient } from '../registry/client.js';
import { blobsOf, mapLimit } from './copy.js';
import type { BlobLocation, KnownImage } from './known.js';
import type { LocalImage } from './paths.js';
import type { Report, Target } from './push.js';
import { placeBlobs, type KnownBlob, type ReuseLedger } from './reuse.js';

export interface NoExportOptions {
  clients: (registry: string) => RegistryClient;
  log: Logger;
  ledger: ReuseLedger;
  /** Resolves once held-back tags are out of the targets. */
  tagsFinal: Promise<void>;
  /** Resolves once docker is logged in to every registry. */
  dockerReady: Promise<void>;
}

const PARALLEL_PUTS = 8;

/** Every blob of `manifest` (config and layers), with where each can be read. */
function blobsToPlace(manifest: Manifest, at: BlobLocation, known?: KnownImage): KnownBlob[] {
  const byDigest = new Map([...(known?.layers.values() ?? [])].map((l) => [l.digest, l]));
  const parsed = JSON.parse(manifest.body.toString('utf8')) as { config?: { digest: string } };
  return blobsOf(manifest.body).map((b) => ({
    digest: b.digest,
    size: b.size,
    from: [...(byDigest.get(b.digest)?.from ?? []), at],
    layer: b.digest !== parsed.config?.digest,
  }));
}

/**
 * Places the manifest's blobs in every target, then PUTs it under each tag; `done` lists
 * refs already pushed. Results go to `report` in the order of the plan.
 */
export async function publishManifest(
  manifest: Manifest,
  at: BlobLocation,
  targets: Target[],
  o: NoExportOptions & { known?: KnownImage; done?: Set<string> },
  report: Report,
): Promise<void> {
  const places = targets.map((t) => ({ client: o.clients(t.registry), repo: t.repository }));
  const blobs = blobsToPlace(manifest, at, o.known);
  const placed = await placeBlobs(blobs, places, o);
  const missing = blobs.filter((b) => !placed.has(b.digest)).map((b) => b.digest);
  await o.tagsFinal;
  const refs = targets.flatMap((t) => t.tags.map((tag) => ({ t, tag, ref: `${t.name}:${tag}` })));
  const outcomes = await mapLimit(refs, PARALLEL_PUTS, async ({ t, tag, ref }) => {
    if (o.done?.has(ref)) return { ref, digest: manifest.digest };
    try {
      if (missing.length) throw new Error(`blobs ${missing.join(', ')} could not be copied`);
      const digest = await o
        .clients(t.registry)
        .putManifest(t.repository, tag, manifest.body, manifest.mediaType);
      return { ref, digest };
    } catch (err) {
      return { ref, error: messageOf(explainFailure('Push', ref, t.registry, err)) };
    }
  });
  for (const r of outcomes) {
    if (r.digest === undefined) report.failed.push({ ref: r.ref, error: r.error! });
    else {
      report.digests[r.ref] = r.digest;
      report.digest = r.digest;
      o.log.info(`Pushed ${r.ref} ${r.digest}`);
    }
  }
}

/** A manifest a registry already holds for this very image, copied to every target. */
export async function registryCopy(
  source: { manifestDigest: string; from: BlobLocation[] },
  targets: Target[],
  o: NoExportOptions & { known: KnownImage },
  report: Report,
): Promise<void> {
  const at = source.from[0]!;
  const manifest = await o.clients(at.registry).getManifest(at.repository, source.manifestDigest);
  await publishManifest(manifest, at, targets, o, report);
}

/** `docker push` output: `<tag>: digest: sha256:... size: N`. */
export function pushedDigest(output: string): string | undefined {
  return /digest: (sha256:[0-9a-f]{64})/.exec(output)?.[1];
}

/** Layers the daemon compressed again instead of finding them by digest (diff_id order). */
export function recompressed(manifest: Manifest, image: LocalImage, known: KnownImage): string[] {
  const layers =
    (JSON.parse(manifest.body.toString('utf8')) as { layers?: { digest: string }[] }).layers ?? [];
  return image.diffIds.filter((d, i) => {
    const k = known.layers.get(d);
    return k !== undefined && layers[i]?.digest !== k.digest;
  });
}

/**
 * Known layers go to every target first (the daemon then finds them by digest), then the
 * daemon pushes one tag, and the rest is copied from there. Returns false, having pushed at
 * most that one tag, when the daemon compressed known layers again: the caller exports.
 */
export async function daemonPush(
  docker: Docker,
  image: LocalImage,
  targets: Target[],
  known: KnownImage,
  o: NoExportOptions,
  report: Report,
): Promise<boolean> {
  const places = targets.map((t) => ({ client: o.clients(t.registry), repo: t.repository }));
  const knownBlobs = [...known.layers.values()].map((l) => ({ ...l, layer: true }));
  const placed = await placeBlobs(knownBlobs, places, o);
  await o.tagsFinal;
  // The first target on a registry that holds the base: the daemon mounts, nothing crosses.
  const holders = new Set([...known.layers.values()].flatMap((l) => l.from.map((f) => f.registry)));
  const first =
    targets.find((t) => t.tags.length && holders.has(t.registry)) ?? targets.find((t) => t.tags.length);
  if (!first) return true; // every tag held back: nothing to push
  const ref = `${first.name}:${first.tags[0]}`;
  await o.dockerReady;
  const tagged = !image.repoTags.includes(ref);
  if (tagged) await docker.run(['tag', image.id, ref]);
  let pushed: string | undefined;
  try {
    const { stdout } = await docker.run(['push', ref]);
    pushed = pushedDigest(stdout);
  } finally {
    // The tag was only a name for docker push. Untagging the last name of an image deletes
    // it, so an image known by its id alone keeps the tag (as `docker tag` + `push` would).
    if (tagged && image.repoTags.length) void docker.run(['rmi', '--no-prune', ref]).catch(() => undefined);
  }
  const client = o.clients(first.registry);
  const manifest = await client.getManifest(first.repository, pushed ?? first.tags[0]!);
  const again = recompressed(manifest, image, known);
  if (again.length) {
    o.log.info(
      `docker push compressed ${again.length} known layer(s) again (the daemon has no record of their blobs); exporting instead`,
    );
    return false;
  }
  for (const b of blobsToPlace(manifest, first, known))
    if (b.layer && !placed.has(b.digest)) o.ledger.note(first.registry, b.digest, b.size, 'uploaded');
  await publishManifest(manifest, first, targets, { ...o, known, done: new Set([ref]) }, report);
  return true;
}
