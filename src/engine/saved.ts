/**
 * Publishes the image of a `docker save` stream through a relay: each layer is compressed once,
 * by us, while it streams to every registry, and the image manifest is built from what was sent.
 *
 * Layers are gzipped in 1 MiB pieces, several at once on libuv's thread pool, each piece a gzip
 * member of its own (a multi-member gzip stream, which docker, containerd and every gzip reader
 * take as one). A piece whose sample does not shrink (random, media, already-compressed data) is
 * stored (level 0) instead of deflated: deflating it costs the CPU time of a full pass and saves
 * nothing. The output depends only on the layer's bytes, so the same layer gives the same blob.
 */
import { createHash } from 'node:crypto';
import { createReadStream, createWriteStream } from 'node:fs';
import { rm } from 'node:fs/promises';
import { join, posix } from 'node:path';
import type { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { promisify } from 'node:util';
import { crc32, deflateRawSync, gzip as gzipCallback } from 'node:zlib';
import * as tarStream from 'tar-stream';
import { MEDIA_TYPES, readAll, sha256Digest, type Manifest } from '../registry/client.js';
import type { PushRelay } from './relay.js';

const gzip = promisify(gzipCallback);

const MiB = 1024 * 1024;
/** Bytes per gzip member: large enough for deflate's window, small enough to spread over cores. */
export const PIECE_BYTES = 1 * MiB;
/** Pieces compressed at once: libuv's pool has 4 threads; more would only hold memory. */
const PIECES_IN_FLIGHT = 4;
const SAMPLE_BYTES = 16 * 1024;
/** Deflate level for data that compresses: docker's own (Go's default, 6). */
const LEVEL = 6;
/** Files other than layers (manifest.json, configs) are small; anything bigger is refused. */
const SMALL_LIMIT = 16 * MiB;

const OCI_LAYER_ZSTD = 'application/vnd.oci.image.layer.v1.tar+zstd';

/** Level 0 (stored) when a sample of the piece does not shrink by 3 %, else `LEVEL`. */
export function levelFor(piece: Buffer): number {
  const sample = piece.subarray(0, SAMPLE_BYTES);
  if (sample.length === 0) return LEVEL;
  return deflateRawSync(sample, { level: 1 }).length > sample.length * 0.97 ? 0 : LEVEL;
}

/** gzip header: deflate, no name, mtime 0, unix (as zlib writes it, so the bytes never vary). */
const GZIP_HEADER = Buffer.from([0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 3]);
const STORED_BLOCK = 65_535;

/**
 * A gzip member holding `data` in stored deflate blocks, framed here rather than by zlib: the
 * data is copied once, and nothing waits for the thread pool.
 */
export function storedGzip(data: Buffer): Buffer {
  const parts: Buffer[] = [GZIP_HEADER];
  for (let at = 0; ; at += STORED_BLOCK) {
    const block = data.subarray(at, at + STORED_BLOCK);
    const head = Buffer.alloc(5);
    head[0] = at + STORED_BLOCK >= data.length ? 1 : 0; // BFINAL on the last block, BTYPE 00
    head.writeUInt16LE(block.length, 1);
    head.writeUInt16LE(~block.length & 0xffff, 3);
    parts.push(head, block);
    if (head[0] === 1) break;
  }
  const trailer = Buffer.alloc(8);
  trailer.writeUInt32LE(crc32(data) >>> 0, 0);
  trailer.writeUInt32LE(data.length % 2 ** 32, 4);
  parts.push(trailer);
  return Buffer.concat(parts);
}

/** Splits `source` into `PIECE_BYTES` pieces. */
async function* pieces(source: AsyncIterable<Buffer>): AsyncGenerator<Buffer> {
  let parts: Buffer[] = [];
  let size = 0;
  for await (const chunk of source) {
    let c = chunk;
    while (size + c.length >= PIECE_BYTES) {
      const take = PIECE_BYTES - size;
      parts.push(c.subarray(0, take));
      yield Buffer.concat(parts);
      parts = [];
      size = 0;
      c = c.subarray(take);
    }
    if (c.length) {
      parts.push(c);
      size += c.length;
    }
  }
  if (size > 0 || parts.length) yield Buffer.concat(parts);
}

/** gzip of `source` as a multi-member stream, pieces compressed side by side, in order. */
export async function* gzipPieces(source: AsyncIterable<Buffer>): AsyncGenerator<Buffer> {
  const queue: Promise<Buffer>[] = [];
  let any = false;
  for await (const piece of pieces(source)) {
    any = true;
    const level = levelFor(piece);
    const p = level === 0 ? Promise.resolve(storedGzip(piece)) : gzip(piece, { level });
    p.catch(() => undefined); // awaited in order below
    queue.push(p);
    if (queue.length >= PIECES_IN_FLIGHT) yield await queue.shift()!;
  }
  // An empty layer still needs a valid (empty) gzip stream.
  if (!any) queue.push(gzip(Buffer.alloc(0), { level: LEVEL }));
  while (queue.length) yield await queue.shift()!;
}

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

/** Sends one layer through the relay: a tar is compressed on the way, a compressed blob sent as it is. */
async function sendLayer(relay: PushRelay, entry: AsyncIterable<Buffer>): Promise<Blob> {
  const { head, all } = await peek(entry);
  if (startsWith(head, ZSTD_MAGIC)) return { mediaType: OCI_LAYER_ZSTD, ...(await relay.ingest(all)) };
  const gz = MEDIA_TYPES.ociLayerGzip;
  if (startsWith(head, GZIP_MAGIC)) return { mediaType: gz, ...(await relay.ingest(all)) };
  return { mediaType: gz, ...(await relay.ingest(gzipPieces(all))) };
}

/** Writes a layer's tar to `file` while hashing it: a layer the registries hold is sent nowhere. */
async function spoolThenSend(
  relay: PushRelay,
  entry: AsyncIterable<Buffer>,
  known: KnownBlobs,
  file: string,
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
    return held ?? (await sendLayer(relay, createReadStream(file)));
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
  opts: { known?: Promise<KnownBlobs>; tmpDir?: string; oci?: boolean } = {},
): Promise<SavedImage> {
  let known: KnownBlobs | undefined;
  const small = new Map<string, Buffer>();
  const sent = new Map<string, Blob>();
  const links = new Map<string, string>();
  const extract = tarStream.extract();
  const feeding = pipeline(tar, extract);
  feeding.catch(() => undefined); // surfaced by the loop below, or awaited after it
  for await (const entry of extract) {
    const name = normalise(entry.header.name);
    const type = entry.header.type ?? 'file';
    const size = entry.header.size ?? 0;
    const body = entry as unknown as AsyncIterable<Buffer>;
    if (type === 'symlink' || type === 'link') {
      const target = entry.header.linkname ?? '';
      links.set(name, normalise(type === 'symlink' ? posix.join(posix.dirname(name), target) : target));
      entry.resume();
    } else if (type !== 'file' && type !== 'contiguous-file') {
      entry.resume();
    } else if (name.endsWith('/layer.tar') || (name.startsWith('blobs/') && size > MiB)) {
      known ??= (await opts.known?.catch(() => undefined)) ?? { layers: new Map(), configs: new Set() };
      // docker 25+ names a blob by its digest: a layer the registries hold is not even read.
      const named = /^blobs\/sha256\/([a-f0-9]{64})$/.exec(name);
      const held = named ? known.layers.get(`sha256:${named[1]}`) : undefined;
      if (held) {
        entry.resume();
        sent.set(name, held);
        continue;
      }
      const { head, all } = await peek(body);
      if (named && head[0] === 0x7b && size <= SMALL_LIMIT) {
        // A JSON blob over 1 MiB (a config with a long history), not a layer.
        small.set(name, await readAll(all, SMALL_LIMIT, `docker save: ${name} is`));
      } else if (!named && known.layers.size && opts.tmpDir) {
        // docker 20's names say nothing: hash the tar on its way to disk, then decide.
        sent.set(name, await spoolThenSend(relay, all, known, join(opts.tmpDir, `layer-${sent.size}.tar`)));
      } else sent.set(name, await sendLayer(relay, all));
    } else if (name.startsWith('blobs/') || !name.includes('/')) {
      small.set(name, await readAll(body, SMALL_LIMIT, `docker save: ${name} is`));
    } else {
      entry.resume(); // VERSION and the legacy json of each layer directory
    }
  }
  await feeding;

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
  const configBlob = known?.configs.has(configDigest)
    ? { digest: configDigest, size: config.length }
    : await relay.ingest(once(config));
  // Docker's media types, as `docker push` writes them, unless asked for OCI's or a zstd layer needs them.
  // A reused layer keeps its media type: an OCI one (a base built by BuildKit) needs an OCI manifest.
  const heldOci = [...(known?.layers.values() ?? [])].some(
    (k) => k.mediaType === MEDIA_TYPES.ociLayerGzip && layers.includes(k),
  );
  const oci = opts.oci === true || heldOci || layers.some((l) => l.mediaType === OCI_LAYER_ZSTD);
  const mediaType = oci ? MEDIA_TYPES.ociManifest : MEDIA_TYPES.dockerManifest;
  const layerType = (t: string) => (t === MEDIA_TYPES.ociLayerGzip && !oci ? MEDIA_TYPES.dockerLayerGzip : t);
  const body = Buffer.from(
    JSON.stringify(
      {
        schemaVersion: 2,
        mediaType,
        config: {
          mediaType: oci ? MEDIA_TYPES.ociConfig : MEDIA_TYPES.dockerConfig,
          size: configBlob.size,
          digest: configBlob.digest,
        },
        layers: layers.map((l) => ({ mediaType: layerType(l.mediaType), size: l.size, digest: l.digest })),
      },
      null,
      3,
    ),
  );
  return { body, mediaType, digest: sha256Digest(body), config, blobs: layers.length + 1 };
}
