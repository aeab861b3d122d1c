/**
 * The three ways to publish a local image, and the choice between them:
 *
 * - `registry copy`: a registry already holds this very image (same config): its manifest is
 *   copied to every target, blobs mounted or streamed as they are. Nothing leaves the daemon.
 * - `daemon push`: the daemon pulled (or pushed) the base, so it knows the base layers' blobs;
 *   once they are in the first target, `docker push` of one tag sends only the new layers, and
 *   every other tag and target is copied registry to registry. `docker save` would export the
 *   whole image (about 0.6 s per 100 MB here) to send a few megabytes.
 * - `export` (fresh layers): `docker save`, each unknown layer compressed once on several
 *   threads and relayed to every registry at once; known layers are placed as they are.
 */
import type { LocalImage } from '../docker/inspect.js';
import type { KnownImage } from './known.js';

export type PublishPath = 'registry copy' | 'daemon push' | 'export';

export { inspectImage, type LocalImage } from '../docker/inspect.js';

export interface PathFacts {
  layers: number;
  knownLayers: number;
  /** A registry holds a manifest for this very config. */
  imageKnown: boolean;
  imageBytes: number;
  /**
   * Uncompressed bytes of the base layers the daemon has a registry record of (the base is
   * local with a repo digest, its layers are the image's first ones, and every one of them is
   * known): `docker push` finds those by their digests instead of compressing them again.
   */
  daemonKnownBytes?: number;
}

/** Unknown bytes at most this share of the image: docker's one-thread gzip beats a full export. */
const DAEMON_SHARE = 1 / 3;

/** The cheapest way to publish, and why (pure: the decision table). */
export function choosePath(f: PathFacts): { path: PublishPath; why: string } {
  if (f.imageKnown) return { path: 'registry copy', why: 'a registry already holds this image' };
  if (f.knownLayers === 0) return { path: 'export', why: 'no layer of it is in a registry yet' };
  if (f.daemonKnownBytes !== undefined) {
    const fresh = Math.max(0, f.imageBytes - f.daemonKnownBytes);
    if (fresh <= f.imageBytes * DAEMON_SHARE)
      return {
        path: 'daemon push',
        why: `${f.knownLayers} of ${f.layers} layers are in a registry and the daemon knows the base; ${mib(fresh)} to send`,
      };
    return { path: 'export', why: `${mib(fresh)} of new layers: compressed faster here than by the daemon` };
  }
  return {
    path: 'export',
    why: `${f.knownLayers} of ${f.layers} layers are in a registry; the daemon has no record of them`,
  };
}

const mib = (n: number) => `${(n / (1024 * 1024)).toFixed(1)} MiB`;

/**
 * Bytes of the base the daemon can push by digest: the base is local with a registry record,
 * its layers are the image's first ones, and every one of them is known to a registry.
 */
export function daemonKnownBytes(image: LocalImage, base: LocalImage | undefined, known: KnownImage) {
  if (!base || base.repoDigests.length === 0 || base.diffIds.length === 0) return undefined;
  if (!base.diffIds.every((d, i) => image.diffIds[i] === d && known.layers.has(d))) return undefined;
  return base.size;
}
