/**
 * Our own push engine for images that exist only in the local daemon: reads a `docker save`
 * stream, gzips each layer to a temporary file while hashing it both ways, then uploads
 * config + layers to every target and PUTs an OCI manifest by digest (no tag is created).
 * Everything streams: memory stays flat whatever the image size.
 */
import { createHash, type Hash } from 'node:crypto';
import { createReadStream, createWriteStream } from 'node:fs';
import { mkdir, mkdtemp, rm } from 'node:fs/promises';
import { join, posix } from 'node:path';
import { Readable, Transform, type TransformCallback } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { createGzip } from 'node:zlib';
import * as tarStream from 'tar-stream';
import type { Logger } from '../log.js';
import { MEDIA_TYPES, sha256Digest, type RegistryClient } from './client.js';
import { mapLimit } from './copy.js';
import { platformOfConfig, type Platform } from './oci.js';
import { normalise, savedImageIndex } from './saved.js';

export interface PushTarget {
  client: RegistryClient;
  repo: string;
}

export interface PushSavedImageOptions {
  /** Directory for the compressed layers (a private subdirectory is created and removed). */
  tmpDir: string;
  log: Logger;
  /** Blob uploads in flight per target (default 4). */
  concurrency?: number;
  /** gzip level for layers (default 6, like docker). */
  gzipLevel?: number;
}

export interface PushedImage {
  manifest: Buffer;
  mediaType: 'application/vnd.oci.image.manifest.v1+json';
  digest: string;
  size: number;
  platform: Platform;
  config: object;
}

interface LayerBlob {
  file: string;
  digest: string;
  diffId: string;
  size: number;
}

/** Small files kept in memory: manifest.json, configs (docker 20.10 `<id>.json`, OCI `blobs/` ≤ 1 MiB). */
const SMALL_LIMIT = 1024 * 1024;

/** Passes bytes through while hashing and counting them. */
class HashTap extends Transform {
  readonly hash: Hash = createHash('sha256');
  bytes = 0;
  override _transform(chunk: Buffer, _enc: BufferEncoding, cb: TransformCallback): void {
    this.hash.update(chunk);
    this.bytes += chunk.length;
    cb(null, chunk);
  }
}

async function gzipToFile(source: Readable, file: string, level: number): Promise<LayerBlob> {
  const raw = new HashTap();
  const packed = new HashTap();
  await pipeline(source, raw, createGzip({ level }), packed, createWriteStream(file));
  return {
    file,
    diffId: `sha256:${raw.hash.digest('hex')}`,
    digest: `sha256:${packed.hash.digest('hex')}`,
    size: packed.bytes,
  };
}

async function readEntry(entry: AsyncIterable<Buffer>, limit: number, name: string): Promise<Buffer> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const c of entry) {
    size += c.length;
    if (size > limit) throw new Error(`docker save: ${name} is larger than ${limit} bytes`);
    chunks.push(c);
  }
  return Buffer.concat(chunks);
}

/** The parts of a `docker save` archive we need, layers already compressed on disk. */
interface SavedArchive {
  config: Buffer;
  layers: LayerBlob[];
}

async function readSavedArchive(
  tar: Readable,
  dir: string,
  level: number,
  log: Logger,
): Promise<SavedArchive> {
  const small = new Map<string, Buffer>();
  const layers = new Map<string, LayerBlob>();
  const links = new Map<string, string>();
  let n = 0;
  const extract = tarStream.extract();
  const feeding = pipeline(tar, extract);
  feeding.catch(() => {}); // surfaced by the loop below, or awaited after it
  for await (const entry of extract) {
    const name = normalise(entry.header.name);
    const type = entry.header.type ?? 'file';
    const size = entry.header.size ?? 0;
    if (type === 'symlink' || type === 'link') {
      const target = entry.header.linkname ?? '';
      links.set(name, normalise(type === 'symlink' ? posix.join(posix.dirname(name), target) : target));
      entry.resume();
      continue;
    }
    if (type !== 'file' && type !== 'contiguous-file') {
      entry.resume();
      continue;
    }
    const isLayerTar = name.endsWith('/layer.tar');
    const isBlob = name.startsWith('blobs/');
    if (isLayerTar || (isBlob && size > SMALL_LIMIT)) {
      const blob = await gzipToFile(Readable.from(entry), join(dir, `layer-${n++}.tar.gz`), level);
      log.debug(`docker save: ${name}: ${size} bytes → ${blob.size} gzipped (${blob.digest})`);
      layers.set(name, blob);
    } else if (isBlob || !name.includes('/') || name === 'manifest.json') {
      if (size > SMALL_LIMIT * 16) {
        entry.resume();
        continue;
      }
      small.set(name, await readEntry(entry as unknown as AsyncIterable<Buffer>, SMALL_LIMIT * 16, name));
    } else {
      entry.resume(); // VERSION, legacy json
    }
  }
  await feeding;

  const { config, layers: paths } = savedImageIndex(small, links);
  const ordered: LayerBlob[] = [];
  for (const [path, p] of paths) {
    let blob = layers.get(p);
    if (!blob) {
      const bytes = small.get(p);
      if (!bytes) throw new Error(`docker save: layer ${path} is missing from the archive`);
      blob = await gzipToFile(Readable.from([bytes]), join(dir, `layer-${n++}.tar.gz`), level);
      layers.set(p, blob);
    }
    ordered.push(blob);
  }
  return { config, layers: ordered };
}

/**
 * Pushes the single image of a `docker save <id>` stream to every target by digest (no tag):
 * uploads config + gzipped layers (skipping blobs already there), then PUTs an OCI manifest.
 * The config bytes are kept exactly as saved, so the image id is the config digest.
 */
export async function pushSavedImage(
  tar: Readable,
  targets: PushTarget[],
  opts: PushSavedImageOptions,
): Promise<PushedImage> {
  await mkdir(opts.tmpDir, { recursive: true });
  const dir = await mkdtemp(join(opts.tmpDir, 'push-'));
  try {
    const { config, layers } = await readSavedArchive(tar, dir, opts.gzipLevel ?? 6, opts.log);
    const configJson = JSON.parse(config.toString('utf8')) as { rootfs?: { diff_ids?: string[] } };
    const diffIds = configJson.rootfs?.diff_ids ?? [];
    const actual = layers.map((l) => l.diffId);
    if (diffIds.length !== actual.length || diffIds.some((d, i) => d !== actual[i])) {
      throw new Error(
        `docker save: layer contents do not match the config's rootfs.diff_ids ` +
          `(config ${JSON.stringify(diffIds)}, archive ${JSON.stringify(actual)})`,
      );
    }
    const platform = platformOfConfig(configJson);
    const configDigest = sha256Digest(config);
    const manifestJson = {
      schemaVersion: 2,
      mediaType: MEDIA_TYPES.ociManifest,
      config: { mediaType: MEDIA_TYPES.ociConfig, digest: configDigest, size: config.length },
      layers: layers.map((l) => ({ mediaType: MEDIA_TYPES.ociLayerGzip, digest: l.digest, size: l.size })),
    };
    const manifest = Buffer.from(JSON.stringify(manifestJson, null, 2));
    const digest = sha256Digest(manifest);

    type Blob = { digest: string; size: number; open: () => Readable };
    const blobs = new Map<string, Blob>();
    blobs.set(configDigest, {
      digest: configDigest,
      size: config.length,
      open: () => Readable.from([config]),
    });
    for (const l of layers)
      blobs.set(l.digest, { digest: l.digest, size: l.size, open: () => createReadStream(l.file) });

    // Settle every target before the temp files go away, then report the first failure.
    const settled = await Promise.allSettled(
      targets.map(async (t) => {
        const where = `${t.client.registry}/${t.repo}`;
        let uploaded = 0;
        await mapLimit([...blobs.values()], opts.concurrency ?? 4, async (b) => {
          if (await t.client.hasBlob(t.repo, b.digest)) return;
          await t.client.uploadBlob(t.repo, b.digest, b.size, b.open);
          uploaded++;
        });
        await t.client.putManifest(t.repo, digest, manifest, MEDIA_TYPES.ociManifest);
        opts.log.info(`pushed ${where}@${digest} (${blobs.size} blobs, ${uploaded} uploaded)`);
      }),
    );
    const failed = settled.find((s): s is PromiseRejectedResult => s.status === 'rejected');
    if (failed) throw failed.reason;
    return {
      manifest,
      mediaType: MEDIA_TYPES.ociManifest,
      digest,
      size: manifest.length,
      platform,
      config: configJson,
    };
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}
