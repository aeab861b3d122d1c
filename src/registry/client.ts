/**
 * The registry API (OCI distribution, what `docker push` speaks): manifests, tags, blob reads,
 * and blob writes through uploads.ts. Every call goes through the transport (transport.ts:
 * HTTP, auth challenges and tokens, redirects, errors, retries), the way well-known registry
 * clients keep their API apart from their transport. Blobs are streamed, never held in memory.
 */
import { createHash } from 'node:crypto';
import type { Readable } from 'node:stream';
import type { Logger } from '../log.js';
import type { CredentialLookup } from './credentials.js';
import { drain, headerValue, readAll, type OpenStream } from './http.js';
import { apiHostOf, refString, registryBaseUrl } from './reference.js';
import { DEFAULT_RETRY, RegistryError, type RetryPolicy } from './retry.js';
import { Transport } from './transport.js';
import { BlobWriter, type MountResult } from './uploads.js';

export { parseChallenge } from './auth.js';
export { readAll, type OpenStream } from './http.js';
export { isStreamRefusal, type MountResult } from './uploads.js';

export const MEDIA_TYPES = {
  ociManifest: 'application/vnd.oci.image.manifest.v1+json',
  ociIndex: 'application/vnd.oci.image.index.v1+json',
  dockerManifest: 'application/vnd.docker.distribution.manifest.v2+json',
  dockerManifestList: 'application/vnd.docker.distribution.manifest.list.v2+json',
  ociConfig: 'application/vnd.oci.image.config.v1+json',
  dockerConfig: 'application/vnd.docker.container.image.v1+json',
  ociLayerGzip: 'application/vnd.oci.image.layer.v1.tar+gzip',
  dockerLayerGzip: 'application/vnd.docker.image.rootfs.diff.tar.gzip',
} as const;

const MANIFEST_ACCEPT = [
  MEDIA_TYPES.ociManifest,
  MEDIA_TYPES.ociIndex,
  MEDIA_TYPES.dockerManifest,
  MEDIA_TYPES.dockerManifestList,
].join(', ');

/** Registries refuse manifests above 4 MiB; so do we. */
const MAX_MANIFEST_BYTES = 4 * 1024 * 1024;

export interface RegistryClientOptions {
  /** Registry as docker names it (`docker.io`, `host:port`). */
  registry: string;
  credentials?: CredentialLookup;
  policy?: RetryPolicy;
  log: Logger;
  userAgent?: string;
  /** Socket idle timeout per request (default 60 s). */
  timeoutMs?: number;
  /** Overrides `http(s)://<apiHost>` (e.g. a test proxy); credentials are still looked up by `registry`. */
  baseUrl?: string;
}

export interface Manifest {
  body: Buffer;
  mediaType: string;
  digest: string;
}

export interface ManifestHead {
  digest: string;
  mediaType: string;
  size: number;
}

export interface ReadOptions {
  /**
   * 'fail': a 429 (Docker Hub's pull limit counts manifest GETs) fails at once instead of
   * waiting out Retry-After; for reads that are only an optimisation.
   */
  rateLimited?: 'wait' | 'fail';
}

/** A manifest PUT refused for its media type (zot without Docker compatibility: 415). */
export function isMediaTypeRefusal(err: unknown): boolean {
  if (!(err instanceof RegistryError)) return false;
  if (err.status === 415) return true;
  return err.status === 400 && err.code === 'MANIFEST_INVALID' && /media.?type/i.test(err.message);
}

/** A digest no manifest has: deleting it tells whether a registry deletes at all (404, or 405 when not). */
export const PROBE_DIGEST = `sha256:${'0'.repeat(64)}`;

export function sha256Digest(data: Buffer | string): string {
  return `sha256:${createHash('sha256').update(data).digest('hex')}`;
}

export class RegistryClient {
  readonly registry: string;
  readonly baseUrl: string;
  private readonly transport: Transport;
  private readonly writer: BlobWriter;

  constructor(opts: RegistryClientOptions) {
    this.registry = opts.registry;
    this.baseUrl = (opts.baseUrl ?? registryBaseUrl(opts.registry)).replace(/\/+$/, '');
    this.transport = new Transport({
      registry: this.registry,
      baseUrl: this.baseUrl,
      ...(opts.credentials ? { credentials: opts.credentials } : {}),
      policy: opts.policy ?? DEFAULT_RETRY,
      log: opts.log,
      userAgent: opts.userAgent ?? 'publish-image',
      timeoutMs: opts.timeoutMs ?? 60_000,
    });
    this.writer = new BlobWriter(this.transport);
  }

  /** Host the API is reached at (differs from `registry` for Docker Hub). */
  get apiHost(): string {
    return apiHostOf(this.registry);
  }

  /** Whether blobs may be streamed (one PATCH of unknown length); false once the registry refused it. */
  get streams(): boolean {
    return this.writer.streams;
  }

  /** Frees keep-alive sockets. */
  close(): void {
    this.transport.close();
  }

  // ---------------------------------------------------------------- the registry itself

  /** GET /v2/: resolves when the registry answers (a 401 challenge counts as up). */
  ping(): Promise<void> {
    return this.transport.ping();
  }

  /** Proves the registry accepts our credentials for `repository` (see Transport.checkCredentials). */
  checkCredentials(repository: string): Promise<void> {
    return this.transport.checkCredentials(repository);
  }

  // ---------------------------------------------------------------- manifests and tags

  async getManifest(repo: string, ref: string, opts: ReadOptions = {}): Promise<Manifest> {
    const what = `GET manifest ${refString(repo, ref)}`;
    return this.transport.retry(what, async () => {
      const res = await this.transport
        .send({
          method: 'GET',
          url: `/v2/${repo}/manifests/${ref}`,
          what,
          ref: refString(repo, ref),
          headers: { Accept: MANIFEST_ACCEPT },
          access: { repo, push: false },
          ok: [200],
        })
        .catch((err: unknown) => {
          if (opts.rateLimited === 'fail' && err instanceof RegistryError && err.status === 429)
            err.retryable = false;
          throw err;
        });
      const body = await readAll(res, MAX_MANIFEST_BYTES);
      const digest = sha256Digest(body);
      if (ref.startsWith('sha256:') && ref !== digest) {
        throw new RegistryError(
          `registry ${this.registry}: ${what}: content digest ${digest} does not match`,
          {
            registry: this.registry,
            ref: refString(repo, ref),
            retryable: false,
            code: 'DIGEST_INVALID',
          },
        );
      }
      const mediaType = (headerValue(res.headers, 'content-type') ?? '').split(';')[0]!.trim();
      return { body, mediaType: mediaTypeOf(body) ?? mediaType, digest };
    });
  }

  /**
   * Digest, media type and size of a manifest, or undefined when the registry has none. A HEAD,
   * which Docker Hub's pull limit does not count; a registry that leaves out the digest header
   * is asked with a GET, and then the body comes along.
   */
  async headManifest(
    repo: string,
    ref: string,
    opts: ReadOptions = {},
  ): Promise<(ManifestHead & { body?: Buffer }) | undefined> {
    const what = `HEAD manifest ${refString(repo, ref)}`;
    const head = await this.transport.retry(what, async () => {
      const res = await this.transport.send({
        method: 'HEAD',
        url: `/v2/${repo}/manifests/${ref}`,
        what,
        ref: refString(repo, ref),
        headers: { Accept: MANIFEST_ACCEPT },
        access: { repo, push: false },
        ok: [200, 404],
      });
      drain(res);
      if (res.statusCode === 404) return null;
      return {
        digest: headerValue(res.headers, 'docker-content-digest'),
        mediaType: (headerValue(res.headers, 'content-type') ?? '').split(';')[0]!.trim(),
        size: Number(headerValue(res.headers, 'content-length') ?? NaN),
      };
    });
    if (head === null) return undefined;
    if (head.digest && Number.isFinite(head.size))
      return { digest: head.digest, mediaType: head.mediaType, size: head.size };
    const m = await this.getManifest(repo, ref, opts); // registry left out a header: fetch and hash
    return { digest: m.digest, mediaType: m.mediaType, size: m.body.length, body: m.body };
  }

  /** Manifests this client PUT, by digest: a copy under another tag needs no GET (Hub counts GETs). */
  private readonly putBodies = new Map<string, { body: Buffer; mediaType: string }>();

  /** The bytes and type of a manifest this client PUT (in any repository), if it did. */
  manifestPut(digest: string): { body: Buffer; mediaType: string } | undefined {
    return this.putBodies.get(digest);
  }

  /** PUTs manifest bytes under a tag or digest; returns the digest (verified against the body). */
  async putManifest(repo: string, ref: string, body: Buffer, mediaType: string): Promise<string> {
    const digest = sha256Digest(body);
    const what = `PUT manifest ${refString(repo, ref)}`;
    if (body.length > MAX_MANIFEST_BYTES)
      throw new RegistryError(
        `registry ${this.registry}: ${what}: the manifest is ${body.length} bytes, over the 4 MiB registries accept; push fewer platforms or annotations in one index`,
        { registry: this.registry, ref: refString(repo, ref), retryable: false, code: 'MANIFEST_TOO_LARGE' },
      );
    return this.transport.retry(what, async () => {
      const res = await this.transport.send({
        method: 'PUT',
        url: `/v2/${repo}/manifests/${ref}`,
        what,
        ref: refString(repo, ref),
        headers: { 'Content-Type': mediaType },
        body,
        access: { repo, push: true },
        ok: [200, 201, 202],
      });
      drain(res);
      const answered = headerValue(res.headers, 'docker-content-digest');
      if (answered && answered !== digest) {
        throw new RegistryError(
          `registry ${this.registry}: ${what} stored digest ${answered}, expected ${digest} (sha256 of the body)`,
          { registry: this.registry, ref: refString(repo, ref), retryable: false, code: 'DIGEST_INVALID' },
        );
      }
      this.putBodies.set(digest, { body, mediaType });
      return digest;
    });
  }

  /**
   * Whether the registry answers the OCI 1.1 referrers API for this manifest (an image index);
   * registries without it (CNCF distribution 2.x, GHCR) answer 404, and then clients keep the
   * referrers tag schema themselves (distribution-spec, "Referrers Tag Schema").
   */
  async hasReferrersApi(repo: string, digest: string): Promise<boolean> {
    const what = `GET referrers ${refString(repo, digest)}`;
    return this.transport.retry(what, async () => {
      const res = await this.transport.send({
        method: 'GET',
        url: `/v2/${repo}/referrers/${digest}`,
        what,
        ref: refString(repo, digest),
        headers: { Accept: MEDIA_TYPES.ociIndex },
        access: { repo, push: false },
        ok: [200, 400, 404, 405],
      });
      const type = (headerValue(res.headers, 'content-type') ?? '').split(';')[0]!.trim();
      drain(res);
      return res.statusCode === 200 && type === MEDIA_TYPES.ociIndex;
    });
  }

  /** All tags of a repository (following Link pagination); [] when the repository does not exist. */
  async listTags(repo: string): Promise<string[]> {
    const tags: string[] = [];
    let next: string | undefined = `/v2/${repo}/tags/list?n=1000`;
    while (next) {
      const url: string = next;
      const what = `GET tags ${repo}`;
      const page = await this.transport.retry(what, async () => {
        const res = await this.transport.send({
          method: 'GET',
          url,
          what,
          ref: repo,
          access: { repo, push: false },
          ok: [200, 404],
        });
        const body = await readAll(res, 32 * 1024 * 1024);
        if (res.statusCode === 404) return { tags: [] as string[], link: undefined };
        const parsed = JSON.parse(body.toString('utf8')) as { tags?: string[] | null };
        return { tags: parsed.tags ?? [], link: headerValue(res.headers, 'link') };
      });
      tags.push(...page.tags);
      const m = page.link ? /<([^>]+)>\s*;\s*rel="?next"?/i.exec(page.link) : null;
      next = m ? m[1] : undefined;
    }
    return tags;
  }

  /**
   * DELETEs the manifest `digest` (and with it every tag on it). 'unsupported' when the
   * registry refuses deletes (405, distribution with delete disabled), 'absent' on 404.
   */
  async deleteManifest(repo: string, digest: string): Promise<'deleted' | 'absent' | 'unsupported'> {
    const what = `DELETE manifest ${refString(repo, digest)}`;
    return this.transport.retry(what, async () => {
      const res = await this.transport.send({
        method: 'DELETE',
        url: `/v2/${repo}/manifests/${digest}`,
        what,
        ref: refString(repo, digest),
        access: { repo, push: true, delete: true },
        ok: [200, 202, 404, 405],
      });
      drain(res);
      if (res.statusCode === 405) return 'unsupported';
      return res.statusCode === 404 ? 'absent' : 'deleted';
    });
  }

  // ---------------------------------------------------------------- blob reads

  async hasBlob(repo: string, digest: string): Promise<boolean> {
    const what = `HEAD blob ${refString(repo, digest)}`;
    return this.transport.retry(what, async () => {
      const res = await this.transport.send({
        method: 'HEAD',
        url: `/v2/${repo}/blobs/${digest}`,
        what,
        ref: refString(repo, digest),
        access: { repo, push: false },
        ok: [200, 404],
        followRedirects: true,
      });
      drain(res);
      return res.statusCode === 200;
    });
  }

  /** Streams a blob (following redirects to blob storage). */
  async getBlob(repo: string, digest: string): Promise<Readable> {
    const what = `GET blob ${refString(repo, digest)}`;
    return this.transport.retry(what, async () =>
      this.transport.send({
        method: 'GET',
        url: `/v2/${repo}/blobs/${digest}`,
        what,
        ref: refString(repo, digest),
        access: { repo, push: false },
        ok: [200],
        followRedirects: true,
      }),
    );
  }

  // ---------------------------------------------------------------- blob writes (uploads.ts)

  mountBlob(repo: string, digest: string, fromRepo: string): Promise<MountResult> {
    return this.writer.mountBlob(repo, digest, fromRepo);
  }

  mountOrUpload(
    repo: string,
    digest: string,
    fromRepo: string,
    size: number,
    open: OpenStream,
  ): Promise<'mounted' | 'uploaded'> {
    return this.writer.mountOrUpload(repo, digest, fromRepo, size, open);
  }

  uploadBlob(repo: string, digest: string, size: number, open: OpenStream, session?: URL): Promise<void> {
    return this.writer.uploadBlob(repo, digest, size, open, session);
  }

  uploadStream(repo: string, body: Readable, digest: Promise<string>): Promise<void> {
    return this.writer.uploadStream(repo, body, digest);
  }
}

/** The `mediaType` a manifest declares in its body, if any. */
export function mediaTypeOf(body: Buffer): string | undefined {
  try {
    const parsed = JSON.parse(body.toString('utf8')) as { mediaType?: unknown };
    return typeof parsed.mediaType === 'string' ? parsed.mediaType : undefined;
  } catch {
    return undefined;
  }
}
