/**
 * Pushes the image of a `docker save` stream to every target by digest, with no tag: the
 * per-platform manifests of a multi-platform image and `push-by-digest`. The same engine as a
 * single-platform push (each layer compressed once while the relay streams it everywhere), with
 * OCI media types, as an OCI index's entries usually are.
 */
import type { Readable } from 'node:stream';
import type { Logger } from '../log.js';
import { MEDIA_TYPES } from '../registry/client.js';
import { mapLimit } from './copy.js';
import { platformOfConfig, type Platform } from '../registry/oci.js';
import { PushRelay, type RelayTarget } from './relay.js';
import { relaySavedImage, type KnownBlobs } from './saved.js';

export type PushTarget = RelayTarget;

export interface PushSavedImageOptions {
  /** Directory for the spool files (a private subdirectory is created and removed). */
  tmpDir: string;
  log: Logger;
  /** About how many bytes the export is, for its progress line. */
  size?: Promise<number | undefined>;
  /** Layers every target already holds (a base's): not sent, listed under their own digests. */
  known?: Promise<KnownBlobs>;
}

export interface PushedImage {
  manifest: Buffer;
  mediaType: 'application/vnd.oci.image.manifest.v1+json';
  digest: string;
  size: number;
  platform: Platform;
  config: object;
}

/** Uploads config and layers to every target, then PUTs the manifest by its digest. */
export async function pushSavedImage(
  tar: Readable,
  targets: PushTarget[],
  opts: PushSavedImageOptions,
): Promise<PushedImage> {
  const relay = await PushRelay.start({ targets, tmpDir: opts.tmpDir, log: opts.log });
  try {
    const image = await relaySavedImage(tar, relay, {
      oci: true,
      size: opts.size,
      known: opts.known,
      tmpDir: opts.tmpDir,
    });
    const failures = await relay.settle();
    const [failed] = failures.values();
    if (failures.size) throw failed;
    await mapLimit(targets, 4, async (t) => {
      await t.client.putManifest(t.repo, image.digest, image.body, MEDIA_TYPES.ociManifest);
      opts.log.info(`pushed ${t.client.registry}/${t.repo}@${image.digest} (${image.blobs} blobs)`);
    });
    const config = JSON.parse(image.config.toString('utf8')) as object;
    return {
      manifest: image.body,
      mediaType: MEDIA_TYPES.ociManifest,
      digest: image.digest,
      size: image.body.length,
      platform: platformOfConfig(config),
      config,
    };
  } finally {
    await relay.close();
  }
}
