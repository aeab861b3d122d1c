/** OCI image index building and platform helpers. */
import { createHash } from 'node:crypto';

export const OCI_INDEX = 'application/vnd.oci.image.index.v1+json';

export interface Platform {
  os: string;
  architecture: string;
  variant?: string;
  'os.version'?: string;
}

export interface IndexEntry {
  digest: string;
  size: number;
  mediaType: string;
  platform: Platform;
  annotations?: Record<string, string>;
}

export interface BuiltIndex {
  /** Exact bytes to PUT. */
  body: Buffer;
  mediaType: typeof OCI_INDEX;
  digest: string;
  size: number;
}

/** `os/arch[/variant]`. */
export function platformString(p: Platform): string {
  return [p.os, p.architecture, p.variant].filter(Boolean).join('/');
}

/** Parses `os/arch[/variant]` (e.g. `linux/arm/v7`). */
export function parsePlatform(text: string): Platform {
  const parts = text.trim().split('/');
  if (parts.length < 2 || parts.length > 3 || parts.some((s) => !s)) {
    throw new Error(`invalid platform "${text}" (expected os/arch[/variant])`);
  }
  const p: Platform = { os: parts[0]!, architecture: parts[1]! };
  if (parts[2]) p.variant = parts[2];
  return p;
}

/** Platform of an image from its config JSON (bytes, text or parsed). */
export function platformOfConfig(config: Buffer | string | object): Platform {
  const c = (
    Buffer.isBuffer(config) || typeof config === 'string' ? JSON.parse(config.toString()) : config
  ) as Record<string, unknown>;
  if (typeof c.os !== 'string' || typeof c.architecture !== 'string' || !c.os || !c.architecture) {
    throw new Error('image config has no os/architecture');
  }
  const p: Platform = { os: c.os, architecture: c.architecture };
  if (typeof c.variant === 'string' && c.variant) p.variant = c.variant;
  if (typeof c['os.version'] === 'string' && c['os.version']) p['os.version'] = c['os.version'];
  return p;
}

/**
 * Builds an OCI image index over per-platform manifests, in the order given. Throws on an
 * empty list, a malformed digest or two manifests for the same platform.
 */
export function buildImageIndex(entries: IndexEntry[], annotations?: Record<string, string>): BuiltIndex {
  if (entries.length === 0) throw new Error('an image index needs at least one manifest');
  const seen = new Set<string>();
  // Attestation manifests (BuildKit's layout) all say unknown/unknown and come after the images.
  const attestation = (e: IndexEntry) =>
    e.annotations?.['vnd.docker.reference.type'] === 'attestation-manifest';
  const ordered = [...entries.filter((e) => !attestation(e)), ...entries.filter(attestation)];
  const manifests = ordered.map((e) => {
    if (!/^sha256:[0-9a-f]{64}$/.test(e.digest)) throw new Error(`invalid manifest digest "${e.digest}"`);
    if (!Number.isInteger(e.size) || e.size <= 0)
      throw new Error(`invalid manifest size ${e.size} for ${e.digest}`);
    const key = platformString(e.platform);
    if (seen.has(key) && !attestation(e)) throw new Error(`two manifests for platform ${key}`);
    seen.add(key);
    const platform: Platform = { architecture: e.platform.architecture, os: e.platform.os };
    if (e.platform['os.version']) platform['os.version'] = e.platform['os.version'];
    if (e.platform.variant) platform.variant = e.platform.variant;
    const m: Record<string, unknown> = { mediaType: e.mediaType, digest: e.digest, size: e.size, platform };
    if (e.annotations && Object.keys(e.annotations).length) m.annotations = e.annotations;
    return m;
  });
  const index: Record<string, unknown> = { schemaVersion: 2, mediaType: OCI_INDEX, manifests };
  if (annotations && Object.keys(annotations).length) index.annotations = annotations;
  const body = Buffer.from(JSON.stringify(index, null, 2));
  return {
    body,
    mediaType: OCI_INDEX,
    digest: `sha256:${createHash('sha256').update(body).digest('hex')}`,
    size: body.length,
  };
}
