/** An in-memory registry with the client methods reuse needs: manifests, blobs, mounts, uploads. */
import { createHash } from 'node:crypto';
import { Readable } from 'node:stream';
import type { Manifest, RegistryClient } from '../../../src/registry/client.js';
import { RegistryError } from '../../../src/registry/retry.js';

export const digestOf = (b: Buffer | string) => `sha256:${createHash('sha256').update(b).digest('hex')}`;

export class MemoryRegistry {
  readonly manifests = new Map<string, Manifest>();
  readonly blobs = new Map<string, Map<string, Buffer>>();
  readonly calls: string[] = [];
  /** Repositories whose reads are refused (403). */
  readonly denied = new Set<string>();
  mountsRefused = false;

  constructor(readonly registry: string) {}

  client(): RegistryClient {
    return this as unknown as RegistryClient;
  }

  putBlob(repo: string, data: Buffer | string): string {
    const b = Buffer.from(data);
    const d = digestOf(b);
    if (!this.blobs.has(repo)) this.blobs.set(repo, new Map());
    this.blobs.get(repo)!.set(d, b);
    return d;
  }

  /** Stores an image: layers (bytes), a config listing `diffIds`; returns the manifest. */
  putImage(
    repo: string,
    tag: string,
    layers: Buffer[],
    diffIds: string[],
    mediaType = 'application/vnd.docker.image.rootfs.diff.tar.gzip',
  ) {
    const config = JSON.stringify({
      architecture: 'amd64',
      os: 'linux',
      rootfs: { type: 'layers', diff_ids: diffIds },
    });
    const body = Buffer.from(
      JSON.stringify({
        schemaVersion: 2,
        mediaType: 'application/vnd.docker.distribution.manifest.v2+json',
        config: {
          mediaType: 'application/vnd.docker.container.image.v1+json',
          size: config.length,
          digest: this.putBlob(repo, config),
        },
        layers: layers.map((l) => ({ mediaType, size: l.length, digest: this.putBlob(repo, l) })),
      }),
    );
    const m = {
      body,
      mediaType: 'application/vnd.docker.distribution.manifest.v2+json',
      digest: digestOf(body),
    };
    this.manifests.set(`${repo}:${tag}`, m);
    this.manifests.set(`${repo}:${m.digest}`, m);
    return { manifest: m, configDigest: digestOf(config) };
  }

  async getManifest(repo: string, ref: string): Promise<Manifest> {
    this.calls.push(`GET manifest ${repo}:${ref}`);
    if (this.denied.has(repo))
      throw new RegistryError(`registry ${this.registry}: denied`, {
        status: 403,
        registry: this.registry,
        retryable: false,
      });
    const m = this.manifests.get(`${repo}:${ref}`);
    if (!m)
      throw new RegistryError(`registry ${this.registry}: ${repo}:${ref} not found`, {
        status: 404,
        registry: this.registry,
        retryable: false,
      });
    return m;
  }

  /** What the client's HEAD gives: undefined for a missing tag, the same refusal as a GET. */
  async headManifest(repo: string, ref: string) {
    this.calls.push(`HEAD manifest ${repo}:${ref}`);
    if (this.denied.has(repo))
      throw new RegistryError(`registry ${this.registry}: denied`, {
        status: 403,
        registry: this.registry,
        retryable: false,
      });
    const m = this.manifests.get(`${repo}:${ref}`);
    return m && { digest: m.digest, mediaType: m.mediaType, size: m.body.length };
  }

  /** Digests whose uploads fail here. */
  readonly refuseUploads = new Set<string>();

  private readonly putBodies = new Map<string, { body: Buffer; mediaType: string }>();

  /** As the client: the manifests it PUT itself, by digest. */
  manifestPut(digest: string): { body: Buffer; mediaType: string } | undefined {
    return this.putBodies.get(digest);
  }

  async putManifest(repo: string, ref: string, body: Buffer, mediaType: string): Promise<string> {
    this.calls.push(`PUT manifest ${repo}:${ref}`);
    const m = { body, mediaType, digest: digestOf(body) };
    this.putBodies.set(m.digest, { body, mediaType });
    this.manifests.set(`${repo}:${ref}`, m);
    this.manifests.set(`${repo}:${m.digest}`, m);
    return m.digest;
  }

  async getBlob(repo: string, digest: string): Promise<Readable> {
    this.calls.push(`GET blob ${repo}@${digest}`);
    const b = this.blobs.get(repo)?.get(digest);
    if (!b)
      throw new RegistryError('blob unknown', { status: 404, registry: this.registry, retryable: false });
    return Readable.from([b]);
  }

  async hasBlob(repo: string, digest: string): Promise<boolean> {
    this.calls.push(`HEAD ${repo}@${digest}`);
    return this.blobs.get(repo)?.has(digest) ?? false;
  }

  async mountBlob(repo: string, digest: string, from: string): Promise<boolean> {
    this.calls.push(`MOUNT ${repo}@${digest} from ${from}`);
    const b = this.blobs.get(from)?.get(digest);
    if (!b || this.mountsRefused) return false;
    this.putBlob(repo, b);
    return true;
  }

  async uploadBlob(repo: string, digest: string, size: number, open: () => Readable | Promise<Readable>) {
    this.calls.push(`UPLOAD ${repo}@${digest}`);
    if (this.refuseUploads.has(digest)) throw new Error('upload refused');
    const parts: Buffer[] = [];
    for await (const c of await open()) parts.push(c as Buffer);
    const b = Buffer.concat(parts);
    if (b.length !== size || digestOf(b) !== digest) throw new Error('digest mismatch');
    this.putBlob(repo, b);
  }
}
