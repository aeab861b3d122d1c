/**
 * Finds which layers of a local image already exist as blobs in some registry the action can
 * read: under the tags about to be pushed, the default branch's and `latest` tags of each
 * target, and the base image. Each is read (manifest, then config) in parallel; a layer is
 * matched by its diff_id, the config's `rootfs.diff_ids` being index-aligned with the
 * manifest's `layers`.
 */
import { messageOf } from '../errors.js';
import type { Logger } from '../log.js';
import { MEDIA_TYPES, readAll, type RegistryClient } from '../registry/client.js';
import type { Platform } from '../registry/oci.js';
import { parseImageName } from '../registry/reference.js';
import { isIndexMediaType } from './copy.js';

/** Where a manifest that may share layers with the image can be read. */
export interface LayerSource {
  registry: string;
  repository: string;
  ref: string;
  /** The base image: unreadable is worth a line in the log, a missing tag is not. */
  base?: boolean;
}

export interface BlobLocation {
  registry: string;
  repository: string;
}

export interface KnownLayer {
  diffId: string;
  digest: string;
  size: number;
  mediaType: string;
  /** Every repository it was seen in: the planner prefers one on the target's registry. */
  from: BlobLocation[];
}

export interface KnownImage {
  /** By diff_id. */
  layers: Map<string, KnownLayer>;
  /** Config digest -> manifests for exactly that image (the same image pushed before). */
  images: Map<string, { manifestDigest: string; configSize: number; from: BlobLocation[] }>;
}

const LAYER_TYPES = new Set<string>([
  MEDIA_TYPES.dockerLayerGzip,
  MEDIA_TYPES.ociLayerGzip,
  'application/vnd.oci.image.layer.v1.tar+zstd',
]);
const CONFIG_LIMIT = 16 * 1024 * 1024;

interface ManifestJson {
  config?: { digest?: string; size?: number };
  layers?: { mediaType: string; digest: string; size: number; urls?: string[] }[];
  manifests?: { digest: string; mediaType?: string; platform?: Platform }[];
}

/** The manifests to read, deduplicated: the base, then each target's tags, default branch and `latest`. */
export function reuseSources(
  targets: { registry: string; repository: string; tags: string[] }[],
  defaultBranch: string,
  base?: string,
): LayerSource[] {
  const out: LayerSource[] = [];
  const seen = new Set<string>();
  const add = (s: LayerSource) => {
    const key = `${s.registry}/${s.repository}:${s.ref}`;
    if (seen.has(key)) return;
    seen.add(key);
    out.push(s);
  };
  // The base first: where a layer was pushed under other digests too, the base's own win.
  if (base) {
    const b = parseImageName(base);
    add({ registry: b.registry, repository: b.repository, ref: b.digest ?? b.tag ?? 'latest', base: true });
  }
  for (const t of targets)
    for (const ref of [...t.tags, defaultBranch, 'latest'])
      // A branch name is only a tag when it is a valid one (`feature/x` is not).
      if (ref && /^[\w][\w.-]{0,127}$/.test(ref))
        add({ registry: t.registry, repository: t.repository, ref });
  return out;
}

/** The index entry for `platform` (arm64's `v8` variant and none are the same machine). */
export function pickPlatform(index: ManifestJson, platform: Platform): string | undefined {
  const variant = (p?: Platform) =>
    p?.architecture === 'arm64' && p.variant === 'v8' ? undefined : p?.variant || undefined;
  return index.manifests?.find(
    (m) =>
      m.platform?.os === platform.os &&
      m.platform.architecture === platform.architecture &&
      variant(m.platform) === variant(platform),
  )?.digest;
}

/** diff_id -> layer blob, when the config's diff_ids line up with the manifest's layers. */
export function layersByDiffId(
  manifest: ManifestJson,
  config: { rootfs?: { diff_ids?: string[] } },
): Map<string, Omit<KnownLayer, 'from'>> {
  const out = new Map<string, Omit<KnownLayer, 'from'>>();
  const diffIds = config.rootfs?.diff_ids ?? [];
  const layers = manifest.layers ?? [];
  if (diffIds.length !== layers.length) return out;
  layers.forEach((l, i) => {
    // Foreign layers (with urls) are not the registry's to hand out.
    if (!LAYER_TYPES.has(l.mediaType) || l.urls?.length) return;
    out.set(diffIds[i]!, { diffId: diffIds[i]!, digest: l.digest, size: l.size, mediaType: l.mediaType });
  });
  return out;
}

export interface FindOptions {
  clients: (registry: string) => RegistryClient;
  /** The local image's platform (a promise: the registries are asked while docker answers). */
  platform: Platform | Promise<Platform>;
  log: Logger;
  /**
   * The diff_ids of a config the daemon holds (the base, the image itself), undefined for any
   * other: a manifest naming such a config needs no config read, one round trip less.
   */
  localDiffIds?: (configDigest: string) => Promise<string[] | undefined>;
}

/** Reads only what an earlier read did not: a repository's image is read once, whatever its tags. */
type Seen = Set<string>;

/**
 * Reads one source: its layers by diff_id and its config digest, or throws. HEAD first: most
 * tags asked about do not exist yet, and Docker Hub's pull limit counts manifest GETs, not
 * HEADs; an image is then read once by its digest, and a 429 fails at once instead of waiting
 * (a read that is only an optimisation is not worth the wait).
 */
async function readSource(s: LayerSource, o: FindOptions, seen: Seen) {
  const client = o.clients(s.registry);
  const read = { rateLimited: 'fail' } as const;
  // The base is there to be read: one GET by its tag counts against a pull limit as the GET by
  // digest after a HEAD would, and saves a round trip on the way to the first push.
  const head = s.base
    ? await client.getManifest(s.repository, s.ref, read)
    : await client.headManifest(s.repository, s.ref, read);
  const key = head && `${s.registry}/${s.repository}@${head.digest}`;
  if (!head || seen.has(key!)) return undefined;
  seen.add(key!);
  let m = head.body
    ? { body: head.body, mediaType: head.mediaType, digest: head.digest }
    : await client.getManifest(s.repository, head.digest, read);
  let body = JSON.parse(m.body.toString('utf8')) as ManifestJson;
  if (isIndexMediaType(m.mediaType) || Array.isArray(body.manifests)) {
    const digest = pickPlatform(body, await o.platform);
    if (!digest) return undefined;
    m = await client.getManifest(s.repository, digest, read);
    body = JSON.parse(m.body.toString('utf8')) as ManifestJson;
  }
  const configDigest = body.config?.digest;
  if (!configDigest || !Array.isArray(body.layers)) return undefined;
  const local = await o.localDiffIds?.(configDigest);
  const config = local
    ? { rootfs: { diff_ids: local } }
    : (JSON.parse(
        (await readAll(await client.getBlob(s.repository, configDigest), CONFIG_LIMIT)).toString('utf8'),
      ) as { rootfs?: { diff_ids?: string[] } });
  return {
    layers: layersByDiffId(body, config),
    configDigest,
    configSize: body.config?.size ?? 0,
    manifestDigest: m.digest,
  };
}

/**
 * What the sources hold of the image whose layers are `diffIds`. Best effort: a source that
 * cannot be read only means fewer layers reused (an unreadable base says so in one line).
 */
export async function findKnownLayers(
  sources: LayerSource[],
  diffIds: string[] | Promise<string[]>,
  o: FindOptions,
): Promise<KnownImage> {
  const known: KnownImage = { layers: new Map(), images: new Map() };
  const seen: Seen = new Set();
  const read = await Promise.all(
    sources.map((s) =>
      readSource(s, o, seen).catch((err: unknown) => {
        const where = `${s.registry}/${s.repository}:${s.ref}`;
        if (s.base)
          o.log.warning(
            `Base image ${where} could not be read (${messageOf(err).split('\n')[0]}); its layers are uploaded instead of reused.`,
          );
        else o.log.debug(`${where}: nothing to reuse (${messageOf(err)})`);
        return undefined;
      }),
    ),
  );
  const wanted = new Set(await diffIds);
  read.forEach((r, i) => {
    if (!r) return;
    const s = sources[i]!;
    const at: BlobLocation = { registry: s.registry, repository: s.repository };
    const image = known.images.get(r.configDigest);
    if (image) image.from.push(at);
    else
      known.images.set(r.configDigest, {
        manifestDigest: r.manifestDigest,
        configSize: r.configSize,
        from: [at],
      });
    for (const [diffId, layer] of r.layers) {
      if (!wanted.has(diffId)) continue;
      const have = known.layers.get(diffId);
      // The same diff_id may have been compressed differently elsewhere: the first blob wins,
      // and only repositories holding that very blob are sources for it.
      if (!have) known.layers.set(diffId, { ...layer, from: [at] });
      else if (have.digest === layer.digest) have.from.push(at);
    }
  });
  return known;
}
