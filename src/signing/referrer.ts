/**
 * A Sigstore bundle attached to an image as an OCI referrer, in the layout cosign and
 * `gh attestation verify --bundle-from-oci` read: an OCI image manifest with artifactType
 * `application/vnd.dev.sigstore.bundle.v0.3+json`, the empty config, the bundle as its one
 * layer, and the image manifest as its subject. Registries without the referrers API get the
 * fallback the OCI distribution spec defines: an image index under the tag `sha256-<hex>` of the
 * subject, listing every referrer (read, extended, written back).
 */
import { Readable } from 'node:stream';
import { MEDIA_TYPES, RegistryClient, sha256Digest, type ManifestHead } from '../registry/client.js';
import { RegistryError } from '../registry/retry.js';

export const SIGSTORE_BUNDLE_V03 = 'application/vnd.dev.sigstore.bundle.v0.3+json';
/** The OCI empty descriptor's content (image-spec, "Guidance for an Empty Descriptor"). */
export const OCI_EMPTY = 'application/vnd.oci.empty.v1+json';
const EMPTY = Buffer.from('{}');

interface Descriptor {
  mediaType: string;
  digest: string;
  size: number;
  artifactType?: string;
  annotations?: Record<string, string>;
}

export interface Referrer {
  body: Buffer;
  digest: string;
  /** Blobs to upload before the manifest: the empty config and the bundle. */
  blobs: { digest: string; bytes: Buffer }[];
  descriptor: Descriptor;
}

/** The referrer manifest holding `bundle` about the manifest `subject`. */
export function referrerManifest(
  bundle: Buffer,
  subject: ManifestHead,
  annotations: Record<string, string>,
): Referrer {
  const layer = { mediaType: SIGSTORE_BUNDLE_V03, digest: sha256Digest(bundle), size: bundle.length };
  const manifest = {
    schemaVersion: 2,
    mediaType: MEDIA_TYPES.ociManifest,
    artifactType: SIGSTORE_BUNDLE_V03,
    config: { mediaType: OCI_EMPTY, digest: sha256Digest(EMPTY), size: EMPTY.length },
    layers: [layer],
    subject: { mediaType: subject.mediaType, digest: subject.digest, size: subject.size },
    annotations,
  };
  const body = Buffer.from(JSON.stringify(manifest));
  const digest = sha256Digest(body);
  return {
    body,
    digest,
    blobs: [
      { digest: manifest.config.digest, bytes: EMPTY },
      { digest: layer.digest, bytes: bundle },
    ],
    descriptor: {
      mediaType: MEDIA_TYPES.ociManifest,
      digest,
      size: body.length,
      artifactType: SIGSTORE_BUNDLE_V03,
      annotations,
    },
  };
}

/** `sha256:<hex>` → `sha256-<hex>`, the referrers tag of a subject. */
export const referrersTag = (digest: string): string => digest.replace(':', '-');

/** The referrers index of the tag schema with `entry` added (replacing itself, if listed). */
export function withReferrer(existing: Buffer | undefined, entry: Descriptor): Buffer {
  let manifests: Descriptor[] = [];
  if (existing) {
    const parsed = JSON.parse(existing.toString('utf8')) as { mediaType?: string; manifests?: Descriptor[] };
    // Something else under that tag is not ours to rewrite.
    if (parsed.mediaType !== MEDIA_TYPES.ociIndex || !Array.isArray(parsed.manifests))
      throw new Error(`the referrers tag holds a ${parsed.mediaType ?? 'manifest'}, not an OCI index`);
    manifests = parsed.manifests.filter((m) => m.digest !== entry.digest);
  }
  return Buffer.from(
    JSON.stringify({ schemaVersion: 2, mediaType: MEDIA_TYPES.ociIndex, manifests: [...manifests, entry] }),
  );
}

/**
 * Pushes the referrer to one repository and, where the registry has no referrers API, adds it
 * to the subject's referrers tag. Returns how it is found: 'api' or the tag it was listed under.
 */
export async function attachReferrer(
  client: RegistryClient,
  repo: string,
  r: Referrer,
  subject: string,
): Promise<string> {
  for (const b of r.blobs) {
    if (await client.hasBlob(repo, b.digest)) continue;
    await client.uploadBlob(repo, b.digest, b.bytes.length, () => Readable.from([b.bytes]));
  }
  await client.putManifest(repo, r.digest, r.body, MEDIA_TYPES.ociManifest);
  if (await client.hasReferrersApi(repo, subject)) return 'api';
  const tag = referrersTag(subject);
  const existing = await client.getManifest(repo, tag).catch((err: unknown) => {
    if (err instanceof RegistryError && err.status === 404) return undefined;
    throw err;
  });
  await client.putManifest(repo, tag, withReferrer(existing?.body, r.descriptor), MEDIA_TYPES.ociIndex);
  return tag;
}
