import type { Docker } from '../docker/cli.js';
import { messageOf } from '../errors.js';
import { explainFailure } from '../explain.js';
import type { Logger } from '../log.js';
import type { Report, Target } from './push.js';
import { readAll, type RegistryClient } from '../registry/client.js';
import { copyImage, isIndexMediaType, mapLimit } from './copy.js';
import { buildImageIndex, type IndexEntry, platformOfConfig, platformString } from '../registry/oci.js';
import { pushSavedImage, type PushedImage, type PushTarget } from './upload.js';
import { findKnownLayers, type LayerSource } from './known.js';
import { inspectImage, type LocalImage } from '../docker/inspect.js';
import { describeReuse, placedForExport, ReuseLedger } from './reuse.js';
import type { KnownBlobs } from './saved.js';
import type { Attester } from './attest.js';
import { isAttestationEntry } from '../provenance/layout.js';

type Clients = (registry: string) => RegistryClient;

/** A blob as a manifest lists it. */
type Blob = { mediaType: string; digest: string; size: number };

/** Image configs are a few KB; anything near this is not one. */
const CONFIG_LIMIT = 4 * 1024 * 1024;

/** What to PUT under the tags: one image manifest, or an index over several. */
interface Root {
  body: Buffer;
  mediaType: string;
  digest: string;
}

/** PUTs the root manifest under every tag of every target (by digest only when there are none). */
async function putEverywhere(
  root: Root,
  targets: Target[],
  clients: Clients,
  byDigest: boolean,
  report: Report,
) {
  report.digest = root.digest;
  await mapLimit(targets, 4, async (t) => {
    const client = clients(t.registry);
    const refs = byDigest ? [root.digest] : t.tags;
    for (const ref of refs) {
      const name = byDigest ? `${t.name}@${ref}` : `${t.name}:${ref}`;
      try {
        report.digests[name] = await client.putManifest(t.repository, ref, root.body, root.mediaType);
      } catch (err) {
        report.failed.push({ ref: name, error: messageOf(explainFailure('Push', name, t.registry, err)) });
      }
    }
  });
}

export interface PlatformsOptions {
  tmpDir: string;
  byDigest: boolean;
  log: Logger;
  attest?: Attester;
  /** Manifests that may hold some of the layers (the base's index first; known.ts). */
  sources?: LayerSource[];
  /** Clients to read the sources with (a shorter retry budget off the targets' registries). */
  lookupClients?: Clients;
}

/**
 * The layers of one platform's image that some source holds for that platform (a base's
 * index gives each platform its own manifest), placed in every target before the export
 * starts, so they are neither compressed nor sent and keep the base's digests.
 */
async function placedLayers(
  local: LocalImage,
  targets: PushTarget[],
  clients: Clients,
  opts: PlatformsOptions,
  ledger: ReuseLedger,
): Promise<KnownBlobs> {
  const known = await findKnownLayers(opts.sources!, local.diffIds, {
    clients: opts.lookupClients ?? clients,
    platform: local.platform,
    log: opts.log,
    localDiffIds: async (config) => (config === local.id ? local.diffIds : undefined),
  });
  return placedForExport(known, targets, clients, ledger, opts.log, local.id);
}

/**
 * Multi-platform images and push-by-digest, without buildx: each platform's image leaves the
 * daemon through `docker save`; layers a source already holds for that platform are placed
 * from the registries, the others compressed once and uploaded to every repository; an OCI
 * index over the platform manifests goes under every tag. No temporary tags are ever created.
 */
export async function publishPlatforms(
  docker: Docker,
  images: { platform: string; id: string }[],
  targets: Target[],
  clients: Clients,
  opts: PlatformsOptions,
  report: Report,
): Promise<void> {
  const ledger = new ReuseLedger();
  // No single local image to hand to `docker push`: every platform is exported.
  report.path = 'export';
  try {
    await publishEachPlatform(docker, images, targets, clients, opts, report, ledger);
  } finally {
    report.reuse = ledger.report();
    for (const line of describeReuse(report.reuse)) opts.log.info(`Layers: ${line}`);
  }
}

/** Notes the layers one platform uploaded, and remembers all its layers for the next platform. */
function tallySent(
  pushed: PushedImage,
  held: Map<string, unknown> | undefined,
  sentEarlier: KnownBlobs,
  targets: PushTarget[],
  ledger: ReuseLedger,
): void {
  const layers = (JSON.parse(pushed.manifest.toString('utf8')) as { layers: Blob[] }).layers;
  const diffIds = (pushed.config as { rootfs?: { diff_ids?: string[] } }).rootfs?.diff_ids ?? [];
  layers.forEach((l, i) => {
    if (diffIds.length === layers.length) sentEarlier.layers.set(diffIds[i]!, l);
    sentEarlier.layers.set(l.digest, l);
    if (!held?.has(l.digest))
      for (const t of targets) ledger.note(t.client.registry, l.digest, l.size, 'uploaded');
  });
}

async function publishEachPlatform(
  docker: Docker,
  images: { platform: string; id: string }[],
  targets: Target[],
  clients: Clients,
  opts: PlatformsOptions,
  report: Report,
  ledger: ReuseLedger,
): Promise<void> {
  const pushTargets = targets.map((t) => ({ client: clients(t.registry), repo: t.repository }));
  const entries: IndexEntry[] = [];
  // Layers an earlier platform sent are in every target now: a later platform's identical
  // layer (the same COPY on every platform) is not compressed and sent again.
  const sentEarlier: KnownBlobs = { layers: new Map(), configs: new Set() };
  for (const image of images) {
    // One inspect: the export's size for its progress line, and the layers to look up.
    const local = inspectImage(docker, image.id);
    const size = local.then(
      (l) => l.size || undefined,
      () => undefined,
    );
    const known = (
      opts.sources?.length
        ? local.then((l) => placedLayers(l, pushTargets, clients, opts, ledger))
        : Promise.resolve<KnownBlobs>({ layers: new Map(), configs: new Set() })
    ).then((k) => ({ ...k, layers: new Map([...sentEarlier.layers, ...k.layers]) }));
    known.catch(() => undefined); // read once the export reaches its first layer
    const save = await docker.stream(['save', image.id]);
    const [pushed] = await Promise.all([
      pushSavedImage(save.stdout, pushTargets, { tmpDir: opts.tmpDir, log: opts.log, size, known }),
      save.done,
    ]);
    tallySent(pushed, (await known.catch(() => undefined))?.layers, sentEarlier, pushTargets, ledger);
    const platform = platformString(pushed.platform);
    report.platforms[platform] = pushed.digest;
    opts.log.info(
      `Pushed the ${platform} manifest ${pushed.digest} to ${targets.map((t) => t.name).join(', ')}`,
    );
    entries.push({
      digest: pushed.digest,
      size: pushed.size,
      mediaType: pushed.mediaType,
      platform: pushed.platform,
    });
    // Provenance: the attestation goes beside the image, and even one image is named by an index.
    if (opts.attest) entries.push(await opts.attest.attest(pushed, pushTargets));
    else if (images.length === 1) {
      await putEverywhere(
        { body: pushed.manifest, mediaType: pushed.mediaType, digest: pushed.digest },
        targets,
        clients,
        opts.byDigest,
        report,
      );
      return;
    }
  }
  await putEverywhere(buildImageIndex(entries), targets, clients, opts.byDigest, report);
}

/** The platform of the image an attestation entry is about, from the same index. */
function platformOf(manifests: IndexEntry[], attestation: IndexEntry) {
  const about = attestation.annotations?.['vnd.docker.reference.digest'];
  return manifests.find((m) => m.digest === about && !isAttestationEntry(m))?.platform;
}

/**
 * The last job of a per-platform matrix: the platform manifests are already in every
 * repository (pushed by digest); an index over them goes under every tag. Builds nothing.
 */
export async function mergeDigests(
  digests: string[],
  targets: Target[],
  clients: Clients,
  log: Logger,
  report: Report,
  attest?: Attester,
): Promise<void> {
  const [home] = targets;
  const client = clients(home.registry);
  const entries: IndexEntry[] = [];
  for (const digest of digests) {
    const m = await client.getManifest(home.repository, digest);
    const parsed = JSON.parse(m.body.toString('utf8'));
    if (isIndexMediaType(m.mediaType)) {
      // A job that built several platforms (or attached provenance) pushed an index: merge its
      // entries, attestation manifests included.
      for (const child of (parsed.manifests ?? []) as IndexEntry[]) {
        entries.push(child);
        const kind = isAttestationEntry(child) ? (report.attestations ??= {}) : report.platforms;
        const of = isAttestationEntry(child) ? platformOf(parsed.manifests, child) : child.platform;
        if (of) kind[platformString(of)] = child.digest;
      }
      continue;
    }
    const config = await readAll(await client.getBlob(home.repository, parsed.config.digest), CONFIG_LIMIT);
    const platform = platformOfConfig(config);
    report.platforms[platformString(platform)] = digest;
    entries.push({ digest, size: m.body.length, mediaType: m.mediaType, platform });
  }
  const bare = Object.keys(report.platforms).filter((p) => !report.attestations?.[p]);
  if (attest && bare.length)
    log.warning(
      `provenance is on, but the per-platform jobs pushed ${bare.join(', ')} without it: ` +
        'give those jobs the provenance input too (the merge job builds nothing to attest)',
    );
  const index = buildImageIndex(entries);
  const atts = entries.filter(isAttestationEntry).length;
  log.info(
    `Merged ${entries.length - atts} platform manifests${atts ? ` and ${atts} attestations` : ''} into ${index.digest}`,
  );
  // Repositories the per-platform jobs did not push to get the manifests copied in.
  await mapLimit(targets.slice(1), 4, async (t) => {
    for (const e of entries) {
      if (await clients(t.registry).headManifest(t.repository, e.digest)) continue;
      await copyImage({
        from: { client, repo: home.repository, ref: e.digest },
        to: { client: clients(t.registry), repo: t.repository },
        tags: [],
        log,
      });
    }
  });
  await putEverywhere(index, targets, clients, false, report);
}
