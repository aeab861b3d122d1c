/**
 * Publishes the image of a `docker save` stream through a relay: each layer is compressed once,
 * by us, while it streams to every registry, and the image manifest is built from what was sent
 * (compression: gzip.ts).
 */
import { createHash } from 'node:crypto';
import { createReadStream, createWriteStream } from 'node:fs';
import { rm } from 'node:fs/promises';
import { join, posix } from 'node:path';
import type { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import * as tarStream from 'tar-stream';
import { MEDIA_TYPES, readAll, sha256Digest, type Manifest } from '../registry/client.js';
import { gzipPieces } from './gzip.js';
import type { PushRelay } from './relay.js';

// The compression engine's API stays importable from here, where it lived first.
export { gzipPieces, levelFor, PIECE_BYTES, storedGzip } from './gzip.js';

const MiB = 1024 * 1024;
/** Files other than layers (manifest.json, configs) are small; anything bigger is refused. */
const SMALL_LIMIT = 16 * MiB;

const OCI_LAYER_ZSTD = 'application/vnd.oci.image.layer.v1.tar+zstd';

const GZIP_MAGIC = [0x1f, 0x8b];
const ZSTD_MAGIC = [0x28, 0xb5, 0x2f, 0xfd];

/** Yields the first chunk again after looking at it: to tell a tar from an already-compressed blob. */
async function peek(source: AsyncIterable<Buffer>): Promise<{ head: Buffer; all: AsyncIterable<Buffer> }> {
  const it = source[Symbol.asyncIterator]();
  const first = await it.next();
  const head = first.done ? Buffer.alloc(0) : first.value;
  async function* all() {
    if (head.length) yield head;
    for (let n = await it.next(); !n.done; n = await it.next()) yield n.value;
  }
  return { head, all: all() };
}

async function* once(b: Buffer): AsyncGenerator<Buffer> {
  yield b;
}

const startsWith = (b: Buffer, magic: number[]) => magic.every((m, i) => b[i] === m);

interface Blob {
  mediaType: string;
  digest: string;
  size: number;
}

/** Blobs every target already holds (placed there by reuse.ts): not compressed nor sent again. */
export interface KnownBlobs {
  /** By the layer's diff_id (the digest of its uncompressed tar) and by its own digest. */
  layers: Map<string, Blob>;
  configs: Set<string>;
}

/** Counts what passes into `counter` (the bytes of a progress line). */
async function* counted(source: AsyncIterable<Buffer>, add: (n: number) => void): AsyncGenerator<Buffer> {
  for await (const chunk of source) {
    add(chunk.length);
    yield chunk;
  }
}

/** A layer's place and size, for its progress line. */
interface LayerInfo {
  n: number;
  size: number;
}

/**
 * Sends one layer through the relay: a tar is compressed on the way, a compressed blob sent as
 * it is. Its progress line shows the bytes compressed (or read) and handed to each registry.
 */
async function sendLayer(relay: PushRelay, entry: AsyncIterable<Buffer>, layer?: LayerInfo): Promise<Blob> {
  const { head, all } = await peek(entry);
  const zstd = startsWith(head, ZSTD_MAGIC);
  const compressed = zstd || startsWith(head, GZIP_MAGIC);
  const task = layer && relay.progress.task(`Layer ${layer.n}`);
  try {
    const read = task?.counter(compressed ? 'read' : 'compressed', layer?.size);
    const body = read ? counted(all, (n) => read.add(n)) : all;
    const blob = await relay.ingest(compressed ? body : gzipPieces(body), task);
    return { mediaType: zstd ? OCI_LAYER_ZSTD : MEDIA_TYPES.ociLayerGzip, ...blob };
  } finally {
    task?.finish();
  }
}

/** Writes a layer's tar to `file` while hashing it: a layer the registries hold is sent nowhere. */
async function spoolThenSend(
  relay: PushRelay,
  entry: AsyncIterable<Buffer>,
  known: KnownBlobs,
  file: string,
  layer: LayerInfo,
): Promise<Blob> {
  const hash = createHash('sha256');
  const out = createWriteStream(file);
  try {
    await pipeline(
      entry,
      async function* (source: AsyncIterable<Buffer>) {
        for await (const c of source) {
          hash.update(c);
          yield c;
        }
      },
      out,
    );
    const held = known.layers.get(`sha256:${hash.digest('hex')}`);
    if (held) relay.held();
    return held ?? (await sendLayer(relay, createReadStream(file), layer));
  } finally {
    await rm(file, { force: true });
  }
}

const normalise = (name: string) => posix.normalize(name.replace(/^\.\//, '')).replace(/^\/+/, '');

/**
 * The one image of a `docker save` archive, from its manifest.json: the config's bytes and each
 * layer's path as written and as found (symlinks and hard links followed).
 */
function savedImageIndex(
  small: Map<string, Buffer>,
  links: Map<string, string>,
): { config: Buffer; layers: [string, string][] } {
  const resolve = (p: string): string => {
    let cur = normalise(p);
    for (let i = 0; i < 16 && links.has(cur); i++) cur = links.get(cur)!;
    return cur;
  };
  const index = small.get('manifest.json');
  if (!index) throw new Error('docker save: the archive has no manifest.json');
  const images = JSON.parse(index.toString('utf8')) as { Config: string; Layers?: string[] }[];
  if (!Array.isArray(images) || images.length !== 1)
    throw new Error(`docker save: expected one image in manifest.json, found ${images?.length ?? 0}`);
  const [image] = images as [{ Config: string; Layers?: string[] }];
  const config = small.get(resolve(image.Config));
  if (!config) throw new Error(`docker save: config ${image.Config} is missing from the archive`);
  return { config, layers: (image.Layers ?? []).map((p) => [p, resolve(p)]) };
}

export interface SavedImageOptions {
  /** What the registries already hold under the tags to push (see knownBlobs). */
  known?: Promise<KnownBlobs>;
  /** Where a layer is spooled while it is hashed (docker 20's archives). */
  tmpDir?: string;
  /** OCI media types for the manifest (the entries of an index). */
  oci?: boolean;
  /** About how many bytes the export is (the image's size), for its progress line. */
  size?: Promise<number | undefined>;
}

/** The manifest to PUT, the image config it points at, and how many blobs it references. */
export interface SavedImage extends Manifest {
  config: Buffer;
  blobs: number;
}

/**
 * Reads a `docker save` of one image (docker's legacy layout, `<id>/layer.tar`, or the OCI
 * layout of docker 25+, `blobs/sha256/...`), sends every layer and the config through `relay`,
 * and returns the image manifest to PUT (Docker schema 2, as `docker push` writes). The config
 * goes as saved, byte for byte, so the image id stays the config digest.
 */
export async function relaySavedImage(
  tar: Readable,
  relay: PushRelay,
  opts: SavedImageOptions = {},
): Promise<SavedImage> {
  const archive = await relayArchive(tar, relay, opts);
  const { small, sent, links } = archive;
  const { config, layers: paths } = savedImageIndex(small, links);
  const layers: Blob[] = [];
  for (const [path, p] of paths) {
    let blob = sent.get(p);
    if (!blob) {
      // A layer small enough to have been kept in memory (an OCI-layout blob under 1 MiB).
      const bytes = small.get(p);
      if (!bytes) throw new Error(`docker save: layer ${path} is missing from the archive`);
      blob = await sendLayer(relay, once(bytes));
      sent.set(p, blob);
    }
    layers.push(blob);
  }
  const configDigest = sha256Digest(config);
  const configHeld = archive.known?.configs.has(configDigest) ?? false;
  if (configHeld) relay.held();
  const configBlob = configHeld
    ? { digest: configDigest, size: config.length }
    : await relay.ingest(once(config));
  const { body, mediaType } = imageManifest(configBlob, layers, archive.known, opts.oci === true);
  return { body, mediaType, digest: sha256Digest(body), config, blobs: layers.length + 1 };
}

/** What a pass over the archive leaves: small files kept, layers sent (by path), links. */
interface RelayedArchive {
  small: Map<string, Buffer>;
  sent: Map<string, Blob>;
  links: Map<string, string>;
  known?: KnownBlobs;
}

/** One pass over `docker save`'s tar: each layer sent as it streams by, small files kept. */
async function relayArchive(
  tar: Readable,
  relay: PushRelay,
  opts: SavedImageOptions,
): Promise<RelayedArchive> {
  const out: RelayedArchive = { small: new Map(), sent: new Map(), links: new Map() };
  const extract = tarStream.extract();
  const exported = relay.progress.task('Export from docker');
  const read = exported.counter('read');
  opts.size?.then((n) => (read.total = n)).catch(() => undefined);
  const feeding = pipeline(
    tar,
    (source: AsyncIterable<Buffer>) => counted(source, (n) => read.add(n)),
    extract,
  );
  feeding.catch(() => undefined); // surfaced by the loop below, or awaited after it
  const layerCount = { n: 0 };
  try {
    for await (const entry of extract) {
      const name = normalise(entry.header.name);
      const type = entry.header.type ?? 'file';
      const size = entry.header.size ?? 0;
      if (type === 'symlink' || type === 'link') {
        const target = entry.header.linkname ?? '';
        out.links.set(name, normalise(type === 'symlink' ? posix.join(posix.dirname(name), target) : target));
        entry.resume();
      } else if (type !== 'file' && type !== 'contiguous-file') {
        entry.resume();
      } else if (name.endsWith('/layer.tar') || (name.startsWith('blobs/') && size > MiB)) {
        const known = (out.known ??= (await opts.known?.catch(() => undefined)) ?? {
          layers: new Map(),
          configs: new Set(),
        });
        await relayLayerEntry(entry, name, size, relay, opts, { ...out, known }, layerCount);
      } else if (name.startsWith('blobs/') || !name.includes('/')) {
        const body = entry as unknown as AsyncIterable<Buffer>;
        out.small.set(name, await readAll(body, SMALL_LIMIT, `docker save: ${name} is`));
      } else {
        entry.resume(); // VERSION and the legacy json of each layer directory
      }
    }
  } finally {
    exported.finish();
  }
  await feeding;
  return out;
}

/** A layer of the archive: skipped where the registries hold it, else sent (or spooled, then decided). */
async function relayLayerEntry(
  entry: { resume(): unknown },
  name: string,
  size: number,
  relay: PushRelay,
  opts: SavedImageOptions,
  out: RelayedArchive & { known: KnownBlobs },
  layerCount: { n: number },
): Promise<void> {
  const { known, sent } = out;
  // docker 25+ names a blob by its digest: a layer the registries hold is not even read.
  const named = /^blobs\/sha256\/([a-f0-9]{64})$/.exec(name);
  const held = named ? known.layers.get(`sha256:${named[1]}`) : undefined;
  if (held) {
    entry.resume();
    sent.set(name, held);
    relay.held();
    return;
  }
  const { head, all } = await peek(entry as unknown as AsyncIterable<Buffer>);
  const layer = { n: ++layerCount.n, size };
  if (named && head[0] === 0x7b && size <= SMALL_LIMIT) {
    // A JSON blob over 1 MiB (a config with a long history), not a layer.
    layerCount.n--;
    out.small.set(name, await readAll(all, SMALL_LIMIT, `docker save: ${name} is`));
  } else if (!named && known.layers.size && opts.tmpDir) {
    // docker 20's names say nothing: hash the tar on its way to disk, then decide.
    const file = join(opts.tmpDir, `layer-${sent.size}.tar`);
    sent.set(name, await spoolThenSend(relay, all, known, file, layer));
  } else sent.set(name, await sendLayer(relay, all, layer));
}

/**
 * The image manifest over the sent blobs: Docker's media types, as `docker push` writes them,
 * unless OCI's are asked for or a layer needs them (zstd; a reused OCI layer of a base built
 * by BuildKit).
 */
function imageManifest(
  config: { digest: string; size: number },
  layers: Blob[],
  known: KnownBlobs | undefined,
  askedOci: boolean,
): { body: Buffer; mediaType: string } {
  const heldOci = [...(known?.layers.values() ?? [])].some(
    (k) => k.mediaType === MEDIA_TYPES.ociLayerGzip && layers.includes(k),
  );
  const oci = askedOci || heldOci || layers.some((l) => l.mediaType === OCI_LAYER_ZSTD);
  const mediaType = oci ? MEDIA_TYPES.ociManifest : MEDIA_TYPES.dockerManifest;
  // Docker's and OCI's gzip layer types name the same bytes: a base's blob keeps its digest
  // under either, so each manifest lists its layers in its own family of types.
  const layerType = (t: string) =>
    t === MEDIA_TYPES.ociLayerGzip && !oci
      ? MEDIA_TYPES.dockerLayerGzip
      : t === MEDIA_TYPES.dockerLayerGzip && oci
        ? MEDIA_TYPES.ociLayerGzip
        : t;
  const manifest = {
    schemaVersion: 2,
    mediaType,
    config: {
      mediaType: oci ? MEDIA_TYPES.ociConfig : MEDIA_TYPES.dockerConfig,
      size: config.size,
      digest: config.digest,
    },
    layers: layers.map((l) => ({ mediaType: layerType(l.mediaType), size: l.size, digest: l.digest })),
  };
  return { body: Buffer.from(JSON.stringify(manifest, null, 3)), mediaType };
}
