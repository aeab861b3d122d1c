/**
 * The two paths that export nothing: `docker push` of one tag whose base layers the daemon
 * knows, then every other tag and target from the registry (`daemon push`); or a manifest a
 * registry already holds, copied everywhere (`registry copy`). Blobs go registry to registry
 * as they are, so every target lists the same digests.
 */
import type { Docker } from '../docker/cli.js';
import type { EngineAuth, PushMessage } from '../docker/engine.js';
import { messageOf } from '../errors.js';
import { explainFailure } from '../explain.js';
import type { Logger } from '../log.js';
import type { Manifest, RegistryClient } from '../registry/client.js';
import { parseImageName } from '../registry/reference.js';
import { blobsOf, mapLimit } from './copy.js';
import type { BlobLocation, KnownImage, KnownLayer } from './known.js';
import type { LocalImage } from './paths.js';
import type { Report, Target } from './push.js';
import { Progress } from './progress.js';
import { placeBlobs, type KnownBlob, type ReuseLedger } from './reuse.js';

export interface NoExportOptions {
  clients: (registry: string) => RegistryClient;
  log: Logger;
  ledger: ReuseLedger;
  /** Resolves once held-back tags are out of the targets. */
  tagsFinal: Promise<void>;
  /** Resolves once docker is logged in to every registry. */
  dockerReady: Promise<void>;
  /** The step's own credentials for a registry, for a push through the Engine API. */
  auth?: (registry: string) => EngineAuth | undefined;
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
  const missing = new Map<string, string[]>();
  const missed = (where: string, digest: string) =>
    missing.set(where, [...(missing.get(where) ?? []), digest]);
  await placeBlobs(blobsToPlace(manifest, at, o.known), places, { ...o, missed });
  await o.tagsFinal;
  const refs = targets.flatMap((t) => t.tags.map((tag) => ({ t, tag, ref: `${t.name}:${tag}` })));
  const outcomes = await mapLimit(refs, PARALLEL_PUTS, async ({ t, tag, ref }) => {
    if (o.done?.has(ref)) return { ref, digest: manifest.digest };
    try {
      const lacks = missing.get(`${t.registry}/${t.repository}`);
      if (lacks)
        throw new Error(`blobs ${lacks.join(', ')} could not be copied to ${t.registry}/${t.repository}`);
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

/**
 * A manifest a registry already holds for this very image, copied to every target; or one
 * whose blobs it holds (`manifest` given: the first PUT under a tag makes it).
 */
export async function registryCopy(
  source: { manifestDigest: string; from: BlobLocation[]; manifest?: Manifest },
  targets: Target[],
  o: NoExportOptions & { known: KnownImage },
  report: Report,
): Promise<void> {
  const at = source.from[0]!;
  const client = o.clients(at.registry);
  const put = source.manifest ?? client.manifestPut(source.manifestDigest);
  const manifest = put
    ? { ...put, digest: source.manifestDigest }
    : await client.getManifest(at.repository, source.manifestDigest);
  await publishManifest(manifest, at, targets, o, report);
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

/** Where the daemon's record of the base points: the repositories it pulled it from or pushed it to. */
export function daemonRecords(base: LocalImage): BlobLocation[] {
  return base.repoDigests.flatMap((r) => {
    try {
      const n = parseImageName(r);
      return [{ registry: n.registry, repository: n.repository }];
    } catch {
      return [];
    }
  });
}

/** True when `docker push` can find the base's layers by digest: a recorded base under the image. */
export function daemonCanPush(image: LocalImage, base: LocalImage | undefined): base is LocalImage {
  return (
    !!base &&
    base.repoDigests.length > 0 &&
    base.diffIds.length > 0 &&
    base.diffIds.every((d, i) => image.diffIds[i] === d)
  );
}

export interface PushTag {
  target: Target;
  ref: string;
}

/**
 * The tag docker pushes: the first target on the base's registry (the daemon mounts there,
 * nothing crosses), else the first target. Tagged locally at once, while docker is inspected
 * and the registries read: docker push needs a local name, and the image keeps it, as after a
 * `docker tag` + `docker push` (untagging an image's last name would delete the image).
 */
export async function prepareTag(
  docker: Docker,
  imageId: string,
  baseRegistry: string,
  targets: Target[],
  tagsFinal: Promise<void>,
): Promise<PushTag | undefined> {
  await tagsFinal;
  const withTags = targets.filter((t) => t.tags.length);
  const target = withTags.find((t) => t.registry === baseRegistry) ?? withTags[0];
  if (!target) return undefined;
  const ref = `${target.name}:${target.tags[0]}`;
  await docker.tag(imageId, ref);
  return { target, ref };
}

/**
 * The daemon's push of one tag, with a progress line for a long one (the layers the daemon
 * sends, from its own messages: bytes sent of the layers' sizes), as for an export.
 */
export async function pushWithProgress(
  docker: Docker,
  ref: string,
  o: { auth?: EngineAuth; loggedIn: Promise<void>; log: Logger },
) {
  const progress = new Progress({ log: (line) => o.log.info(line) });
  const task = progress.task(`docker push ${ref}`);
  const sent = task.counter('sent', 0);
  const layers = new Map<string, { current: number; total: number }>();
  try {
    const onMessage = (m: PushMessage) => {
      const d = m.progressDetail;
      if (!m.id || m.status !== 'Pushing' || d?.current === undefined) return;
      layers.set(m.id, { current: d.current, total: d.total ?? 0 });
      sent.done = [...layers.values()].reduce((n, l) => n + l.current, 0);
      sent.total = [...layers.values()].reduce((n, l) => n + l.total, 0);
    };
    return await docker.push(ref, { auth: o.auth, loggedIn: o.loggedIn, onMessage });
  } finally {
    task.finish();
    progress.stop();
  }
}

/**
 * Known layers go to every target (the daemon's own record covers the first one: it mounts
 * those itself), the daemon pushes one tag, and the rest is copied from there. Returns false,
 * having pushed at most that one tag, when the daemon compressed known layers again: the
 * caller exports.
 */
export async function daemonPush(
  docker: Docker,
  image: LocalImage,
  base: LocalImage,
  targets: Target[],
  known: KnownImage,
  tag: Promise<PushTag | undefined>,
  o: NoExportOptions,
  report: Report,
): Promise<boolean> {
  const first = await tag;
  if (!first) return true; // every tag held back: nothing to push
  const records = daemonRecords(base).filter((r) => r.registry === first.target.registry);
  const covered = (l: KnownLayer) =>
    l.from.some((f) => records.some((r) => r.registry === f.registry && r.repository === f.repository));
  const layers = [...known.layers.values()];
  const place = (list: KnownLayer[], ts: Target[]) =>
    placeBlobs(
      list.map((l) => ({ ...l, layer: true })),
      ts.map((t) => ({ client: o.clients(t.registry), repo: t.repository })),
      o,
    );
  const others = place(
    layers,
    targets.filter((t) => t !== first.target),
  );
  others.catch(() => undefined); // awaited below
  await place(
    layers.filter((l) => !covered(l)),
    [first.target],
  );
  // With the step's own credentials for that registry the daemon gets them in the request;
  // only a push with docker's own login waits for `docker login`.
  const { digest, output } = await pushWithProgress(docker, first.ref, {
    auth: o.auth?.(first.target.registry),
    loggedIn: o.dockerReady,
    log: o.log,
  });
  await others;
  const at = { registry: first.target.registry, repository: first.target.repository };
  const manifest = await o.clients(at.registry).getManifest(at.repository, digest ?? first.target.tags[0]!);
  const again = recompressed(manifest, image, known);
  if (again.length) {
    o.log.info(
      `docker push compressed ${again.length} known layer(s) again (the daemon has no record of their blobs); exporting instead`,
    );
    return false;
  }
  const byDigest = new Map(layers.map((l) => [l.digest, l]));
  for (const b of blobsToPlace(manifest, at, known)) {
    if (!b.layer) continue;
    const k = byDigest.get(b.digest);
    if (!k) o.ledger.note(at.registry, b.digest, b.size, 'uploaded');
    else if (covered(k))
      o.ledger.note(at.registry, b.digest, b.size, /Mounted from/.test(output) ? 'mounted' : 'reused');
  }
  await publishManifest(manifest, at, targets, { ...o, known, done: new Set([first.ref]) }, report);
  return true;
}
