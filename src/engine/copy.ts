/** Registry-to-registry image copy and tag helpers, byte-exact (digests never change). */
import type { Logger } from '../log.js';
import { MEDIA_TYPES, mediaTypeOf, type Manifest, type RegistryClient } from '../registry/client.js';
import { refString } from '../registry/reference.js';

export interface Descriptor {
  mediaType?: string;
  digest: string;
  size: number;
  urls?: string[];
}

interface ImageManifestJson {
  mediaType?: string;
  config?: Descriptor;
  layers?: Descriptor[];
  manifests?: Descriptor[];
}

export function isIndexMediaType(mediaType: string): boolean {
  return mediaType === MEDIA_TYPES.ociIndex || mediaType === MEDIA_TYPES.dockerManifestList;
}

/** Runs `fn` over `items` with at most `limit` in flight; rejects with the first failure. */
export async function mapLimit<T, R>(
  items: T[],
  limit: number,
  fn: (item: T, i: number) => Promise<R>,
): Promise<R[]> {
  const results = new Array<R>(items.length);
  let next = 0;
  let failed = false;
  const worker = async () => {
    while (!failed && next < items.length) {
      const i = next++;
      try {
        results[i] = await fn(items[i]!, i);
      } catch (e) {
        failed = true;
        throw e;
      }
    }
  };
  const workers = Array.from({ length: Math.max(1, Math.min(limit, items.length)) }, worker);
  const settled = await Promise.allSettled(workers);
  const rejected = settled.find((s): s is PromiseRejectedResult => s.status === 'rejected');
  if (rejected) throw rejected.reason;
  return results;
}

/** Config + layers of an image manifest (foreign layers with `urls` are not ours to copy). */
export function blobsOf(manifestBody: Buffer): Descriptor[] {
  const m = JSON.parse(manifestBody.toString('utf8')) as ImageManifestJson;
  const blobs: Descriptor[] = [];
  if (m.config) blobs.push(m.config);
  for (const l of m.layers ?? []) if (!l.urls?.length) blobs.push(l);
  return blobs;
}

export type BlobOutcome = 'present' | 'mounted' | 'uploaded';

/**
 * Makes one blob exist in `to`: skip when present, mount when both repositories are on
 * the same registry, else (or when the mount is declined) stream it from `from`.
 */
export async function copyBlob(
  from: { client: RegistryClient; repo: string },
  to: { client: RegistryClient; repo: string },
  blob: Descriptor,
): Promise<BlobOutcome> {
  if (await to.client.hasBlob(to.repo, blob.digest)) return 'present';
  const sameRegistry =
    from.client.registry === to.client.registry || from.client.baseUrl === to.client.baseUrl;
  const open = () => from.client.getBlob(from.repo, blob.digest);
  if (sameRegistry && from.repo !== to.repo)
    return to.client.mountOrUpload(to.repo, blob.digest, from.repo, blob.size, open);
  await to.client.uploadBlob(to.repo, blob.digest, blob.size, open);
  return 'uploaded';
}

export interface CopyImageOptions {
  /** `manifest`: the source manifest when the caller already fetched it (saves a GET). */
  from: { client: RegistryClient; repo: string; ref: string; manifest?: Manifest };
  to: { client: RegistryClient; repo: string };
  /** Tags to PUT on the target; empty: the manifest is stored by digest only. */
  tags: string[];
  log: Logger;
  /** Blobs in flight at once (default 4). */
  concurrency?: number;
}

/**
 * Copies an image (or a whole index with its per-platform manifests) between repositories,
 * keeping the manifest bytes, so digests are identical on both sides. Returns tag → digest.
 */
export async function copyImage(opts: CopyImageOptions): Promise<Record<string, string>> {
  const { from, to, tags, log } = opts;
  const src = refString(from.repo, from.ref);
  const dst = `${to.client.registry}/${to.repo}`;
  const root = from.manifest ?? (await from.client.getManifest(from.repo, from.ref));
  const children: Manifest[] = [];
  if (isIndexMediaType(root.mediaType)) {
    const parsed = JSON.parse(root.body.toString('utf8')) as ImageManifestJson;
    for (const child of parsed.manifests ?? []) {
      children.push(await from.client.getManifest(from.repo, child.digest));
    }
  }
  const unique = new Map<string, Descriptor>();
  for (const m of children.length ? children : [root]) {
    if (isIndexMediaType(m.mediaType)) throw new Error(`${src}: nested image indexes are not supported`);
    for (const b of blobsOf(m.body)) unique.set(b.digest, b);
  }
  const outcomes = await mapLimit([...unique.values()], opts.concurrency ?? 4, async (blob) => {
    const outcome = await copyBlob(from, to, blob);
    log.debug(`copy ${src} → ${dst}: blob ${blob.digest} ${outcome}`);
    return outcome;
  });
  for (const child of children)
    await to.client.putManifest(to.repo, child.digest, child.body, child.mediaType);
  const result: Record<string, string> = {};
  if (tags.length === 0) {
    await to.client.putManifest(to.repo, root.digest, root.body, root.mediaType);
  } else {
    Object.assign(result, await putTags(to.client, to.repo, root, tags));
  }
  const count = (o: BlobOutcome) => outcomes.filter((x) => x === o).length;
  log.info(
    `copied ${from.client.registry}/${src} → ${dst} (${root.digest}): ${outcomes.length} blobs ` +
      `(${count('uploaded')} uploaded, ${count('mounted')} mounted, ${count('present')} already there)` +
      (children.length ? `, ${children.length} platform manifests` : ''),
  );
  return result;
}

/** PUTs the same manifest bytes under every tag; returns tag → digest. */
export async function putTags(
  client: RegistryClient,
  repo: string,
  manifest: { body: Buffer; mediaType?: string },
  tags: string[],
): Promise<Record<string, string>> {
  const mediaType = manifest.mediaType || mediaTypeOf(manifest.body);
  if (!mediaType) throw new Error(`manifest for ${repo} has no media type`);
  const result: Record<string, string> = {};
  for (const tag of tags) result[tag] = await client.putManifest(repo, tag, manifest.body, mediaType);
  return result;
}
