/**
 * BuildKit's attestation layout (moby/buildkit docs/attestations/attestation-storage.md): each
 * image manifest of an index gets an attestation manifest beside it — an OCI image manifest
 * whose one layer is the in-toto statement (`application/vnd.in-toto+json`, annotated with
 * `in-toto.io/predicate-type`), listed after the images with platform `unknown/unknown` and the
 * annotations `vnd.docker.reference.type: attestation-manifest` and
 * `vnd.docker.reference.digest: <image manifest digest>`. The config is the unknown/unknown
 * image config of the doc's example, as released BuildKit writes it (newer docs allow
 * `application/vnd.docker.attestation.config.v1+json`; readers are told to ignore the config).
 */
import { createHash } from 'node:crypto';
import type { IndexEntry } from '../registry/oci.js';

export const IN_TOTO = 'application/vnd.in-toto+json';
export const PREDICATE_TYPE_ANNOTATION = 'in-toto.io/predicate-type';
export const REFERENCE_TYPE = 'vnd.docker.reference.type';
export const REFERENCE_DIGEST = 'vnd.docker.reference.digest';
export const ATTESTATION_MANIFEST = 'attestation-manifest';
const OCI_MANIFEST = 'application/vnd.oci.image.manifest.v1+json';
const OCI_CONFIG = 'application/vnd.oci.image.config.v1+json';

const digestOf = (b: Buffer) => `sha256:${createHash('sha256').update(b).digest('hex')}`;

export interface BlobBytes {
  digest: string;
  size: number;
  bytes: Buffer;
}

export interface AttestationManifest {
  body: Buffer;
  digest: string;
  size: number;
  mediaType: typeof OCI_MANIFEST;
  /** The config and the statement: to upload before the manifest. */
  blobs: BlobBytes[];
  statementDigest: string;
}

const blob = (bytes: Buffer): BlobBytes => ({ digest: digestOf(bytes), size: bytes.length, bytes });

/** The attestation manifest holding one in-toto statement. */
export function attestationManifest(statement: { predicateType: string }): AttestationManifest {
  const layer = blob(Buffer.from(JSON.stringify(statement, null, 2)));
  const config = blob(
    Buffer.from(
      JSON.stringify({
        architecture: 'unknown',
        os: 'unknown',
        config: {},
        rootfs: { type: 'layers', diff_ids: [layer.digest] },
      }),
    ),
  );
  const body = Buffer.from(
    JSON.stringify(
      {
        schemaVersion: 2,
        mediaType: OCI_MANIFEST,
        config: { mediaType: OCI_CONFIG, digest: config.digest, size: config.size },
        layers: [
          {
            mediaType: IN_TOTO,
            digest: layer.digest,
            size: layer.size,
            annotations: { [PREDICATE_TYPE_ANNOTATION]: statement.predicateType },
          },
        ],
      },
      null,
      2,
    ),
  );
  return {
    body,
    digest: digestOf(body),
    size: body.length,
    mediaType: OCI_MANIFEST,
    blobs: [config, layer],
    statementDigest: layer.digest,
  };
}

/** The index entry of an attestation manifest about the image manifest `imageDigest`. */
export function attestationEntry(att: { digest: string; size: number }, imageDigest: string): IndexEntry {
  return {
    mediaType: OCI_MANIFEST,
    digest: att.digest,
    size: att.size,
    platform: { architecture: 'unknown', os: 'unknown' },
    annotations: { [REFERENCE_DIGEST]: imageDigest, [REFERENCE_TYPE]: ATTESTATION_MANIFEST },
  };
}

/** Whether an index entry is an attestation manifest (not an image anyone should run). */
export function isAttestationEntry(e: { annotations?: Record<string, string> }): boolean {
  return e.annotations?.[REFERENCE_TYPE] === ATTESTATION_MANIFEST;
}
