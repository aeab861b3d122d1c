/**
 * Pushes provenance attestations in BuildKit's layout (src/provenance/layout.ts): for each image
 * manifest, its attestation manifest (config + in-toto statement blobs, then the manifest by
 * digest) goes to every repository, and the index entry pointing at it is returned for the
 * index the tags will name.
 */
import { Readable } from 'node:stream';
import type { Logger } from '../log.js';
import { MEDIA_TYPES, type Manifest } from '../registry/client.js';
import {
  buildImageIndex,
  type IndexEntry,
  type Platform,
  platformOfConfig,
  platformString,
} from '../registry/oci.js';
import type { SavedImage } from './saved.js';
import { attestationEntry, attestationManifest } from '../provenance/layout.js';
import type { BuildFacts, ProvenanceOptions } from '../provenance/predicate.js';
import { provenanceStatement } from '../provenance/statement.js';
import { mapLimit } from './copy.js';
import type { Report } from './push.js';
import type { PushTarget } from './upload.js';

export interface Attester {
  options: ProvenanceOptions;
  /** Pushes the attestation of one image manifest to every target; returns its index entry. */
  attest(image: { digest: string; platform: Platform }, targets: PushTarget[]): Promise<IndexEntry>;
}

export interface AttesterOptions {
  options: ProvenanceOptions;
  /** The facts of the build that produced the image of this platform (`os/arch`). */
  factsFor: (platform: string) => BuildFacts;
  /** Every image name and tag the images are pushed as (asked once the tags are final). */
  refs: () => { name: string; tag?: string }[];
  /** Values never to write (tokens), whatever field they turn up in. */
  secrets: string[];
  log: Logger;
  report: Report;
}

export function makeAttester(a: AttesterOptions): Attester {
  return {
    options: a.options,
    async attest(image, targets) {
      const platform = platformString(image.platform);
      const statement = provenanceStatement(
        { digest: image.digest, refs: a.refs(), platform },
        a.factsFor(platform),
        a.options,
        a.secrets,
      );
      const att = attestationManifest(statement as { predicateType: string });
      await mapLimit(targets, 4, async (t) => {
        for (const b of att.blobs) {
          if (await t.client.hasBlob(t.repo, b.digest)) continue;
          await t.client.uploadBlob(t.repo, b.digest, b.size, () => Readable.from([b.bytes]));
        }
        await t.client.putManifest(t.repo, att.digest, att.body, att.mediaType);
      });
      (a.report.attestations ??= {})[platform] = att.digest;
      a.log.info(
        `Attached ${a.options.mode} provenance ${att.digest} to the ${platform} manifest ${image.digest}`,
      );
      return attestationEntry(att, image.digest);
    },
  };
}

/**
 * For a single-platform image: its manifest by digest everywhere, its attestation beside it,
 * and the index over both, which the tags then name.
 */
export async function indexWithAttestation(
  attester: Attester,
  image: Manifest & { platform: Platform },
  targets: PushTarget[],
  report: Report,
): Promise<Manifest> {
  await mapLimit(targets, 4, (t) => t.client.putManifest(t.repo, image.digest, image.body, image.mediaType));
  report.platforms[platformString(image.platform)] = image.digest;
  const entry = await attester.attest(image, targets);
  const index = buildImageIndex([
    { digest: image.digest, size: image.body.length, mediaType: image.mediaType, platform: image.platform },
    entry,
  ]);
  return { body: index.body, digest: index.digest, mediaType: MEDIA_TYPES.ociIndex };
}

/** publishLocalImage's `root` hook: the tags name the index over the image and its attestation. */
export function attestedRoot(attester: Attester, report: Report) {
  return (image: SavedImage, targets: PushTarget[]): Promise<Manifest> =>
    indexWithAttestation(attester, { ...image, platform: platformOfConfig(image.config) }, targets, report);
}
