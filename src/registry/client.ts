/**
 * A small client for the OCI distribution HTTP API (what `docker push` speaks), over
 * node:http/https with keep-alive, Basic and Bearer token auth, and withRetry around
 * every operation. Blobs are streamed, never held in memory.
 */
import { createHash } from 'node:crypto';
import http, { type IncomingHttpHeaders, type IncomingMessage } from 'node:http';
import https from 'node:https';
import { Readable } from 'node:stream';
import type { Logger } from '../log.js';
import type { Credential, CredentialLookup } from './credentials.js';
import { apiHostOf, refString, registryBaseUrl } from './reference.js';
import {
  DEFAULT_RETRY,
  RegistryError,
  classifyError,
  isRetryableStatus,
  parseRetryAfter,
  withRetry,
  type RetryPolicy,
} from './retry.js';

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

export type OpenStream = () => Readable | Promise<Readable>;

interface Access {
  repo: string;
  push: boolean;
  mountFrom?: string;
  /** Ask for the `delete` action too (token registries grant manifest DELETE only with it). */
  delete?: boolean;
}

interface SendOptions {
  method: string;
  url: string | URL;
  /** Request line for error messages, e.g. `PUT manifest acme/api:1.2.3`. */
  what: string;
  ref?: string;
  headers?: Record<string, string>;
  body?: Buffer | OpenStream;
  access?: Access;
  /** Statuses returned to the caller; anything else becomes a RegistryError. */
  ok: number[];
  followRedirects?: boolean;
  /** false: no Authorization and no challenge handling (the /v2/ probe). */
  auth?: boolean;
}

type Challenge = { scheme: 'basic' } | { scheme: 'bearer'; realm: string; service?: string };

interface CachedToken {
  token: string;
  expiresAt: number;
}

export function sha256Digest(data: Buffer | string): string {
  return `sha256:${createHash('sha256').update(data).digest('hex')}`;
}

/** Parses `WWW-Authenticate` into scheme + parameters (first Bearer, else first Basic). */
export function parseChallenge(header: string | string[] | undefined): Challenge | undefined {
  const values = Array.isArray(header) ? header : header ? [header] : [];
  let basic: Challenge | undefined;
  for (const value of values) {
    const m = /^\s*(\w+)\s*(.*)$/s.exec(value);
    if (!m) continue;
    const scheme = m[1]!.toLowerCase();
    const params: Record<string, string> = {};
    for (const p of m[2]!.matchAll(/([\w-]+)\s*=\s*(?:"((?:[^"\\]|\\.)*)"|([^,\s]*))/g)) {
      params[p[1]!.toLowerCase()] = p[2] !== undefined ? p[2].replace(/\\(.)/g, '$1') : (p[3] ?? '');
    }
    if (scheme === 'bearer' && params.realm) {
      const c: Challenge = { scheme: 'bearer', realm: params.realm };
      if (params.service) c.service = params.service;
      return c;
    }
    if (scheme === 'basic') basic = { scheme: 'basic' };
  }
  return basic;
}

function scopesOf(access: Access | undefined): string[] {
  if (!access) return [];
  const actions = `${access.push ? 'pull,push' : 'pull'}${access.delete ? ',delete' : ''}`;
  const scopes = [`repository:${access.repo}:${actions}`];
  if (access.mountFrom && access.mountFrom !== access.repo)
    scopes.push(`repository:${access.mountFrom}:pull`);
  return scopes;
}

function headerValue(headers: IncomingHttpHeaders, name: string): string | undefined {
  const v = headers[name];
  return Array.isArray(v) ? v[0] : v;
}

/** A whole (small) body, refusing one larger than `limit` bytes; `what` names it in that error. */
export async function readAll(
  res: AsyncIterable<Buffer> & { destroy?(): void },
  limit: number,
  what = 'response',
): Promise<Buffer> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of res) {
    const b = chunk as Buffer;
    size += b.length;
    if (size > limit) {
      res.destroy?.();
      throw new Error(`${what} larger than ${limit} bytes`);
    }
    chunks.push(b);
  }
  return Buffer.concat(chunks);
}

function drain(res: IncomingMessage): void {
  res.resume();
  res.on('error', () => {});
}

export class RegistryClient {
  readonly registry: string;
  readonly baseUrl: string;
  private readonly credentials?: CredentialLookup;
  private readonly policy: RetryPolicy;
  private readonly log: Logger;
  private readonly userAgent: string;
  private readonly timeoutMs: number;
  private readonly httpAgent: http.Agent;
  private readonly httpsAgent: https.Agent;
  private challenge?: Challenge;
  private credential?: Promise<Credential | undefined>;
  private readonly tokens = new Map<string, Promise<CachedToken>>();

  constructor(opts: RegistryClientOptions) {
    this.registry = opts.registry;
    this.baseUrl = (opts.baseUrl ?? registryBaseUrl(opts.registry)).replace(/\/+$/, '');
    if (opts.credentials) this.credentials = opts.credentials;
    this.policy = opts.policy ?? DEFAULT_RETRY;
    this.log = opts.log;
    this.userAgent = opts.userAgent ?? 'publish-image';
    this.timeoutMs = opts.timeoutMs ?? 60_000;
    // A `timeout` makes Node honour the server's `Keep-Alive: timeout=N` hint and drop an idle
    // socket before the server does; without one, a socket reused just as the server closes it
    // fails with ECONNRESET (and costs a retry).
    const agent = { keepAlive: true, maxSockets: 16, timeout: this.timeoutMs };
    this.httpAgent = new http.Agent(agent);
    this.httpsAgent = new https.Agent(agent);
  }

  /** Host the API is reached at (differs from `registry` for Docker Hub). */
  get apiHost(): string {
    return apiHostOf(this.registry);
  }

  /** Frees keep-alive sockets. */
  close(): void {
    this.httpAgent.destroy();
    this.httpsAgent.destroy();
  }

  // ---------------------------------------------------------------- operations

  /** GET /v2/: resolves when the registry answers (a 401 challenge counts as up). */
  async ping(): Promise<void> {
    await this.retry('GET /v2/', async () => {
      const res = await this.send({
        method: 'GET',
        url: '/v2/',
        what: 'GET /v2/',
        ok: [200, 401],
        auth: false,
      });
      if (res.statusCode === 401) this.noteChallenge(res.headers);
      drain(res);
    });
  }

  /**
   * Proves the registry accepts our credentials for `repository` (push scope): a Basic
   * registry must not answer 401 to them, a Bearer realm must hand out a token. Wrong or
   * missing credentials throw a non-retryable RegistryError status 401 code UNAUTHORIZED.
   */
  async checkCredentials(repository: string): Promise<void> {
    await this.retry(`check credentials for ${repository}`, async () => {
      const probe = await this.send({
        method: 'GET',
        url: '/v2/',
        what: 'GET /v2/',
        ok: [200, 401],
        auth: false,
      });
      drain(probe);
      if (probe.statusCode === 200) return; // no auth required at all
      const challenge = this.noteChallenge(probe.headers);
      if (!challenge)
        throw this.unauthorized('GET /v2/ answered 401 without a usable WWW-Authenticate challenge');
      const cred = await this.getCredential();
      if (!cred) throw this.unauthorized(`no credentials for ${this.registry}`);
      if (challenge.scheme === 'basic') {
        const res = await this.send({
          method: 'GET',
          url: '/v2/',
          what: 'GET /v2/',
          ok: [200],
          access: { repo: repository, push: true },
        });
        drain(res);
      } else {
        const scopes = scopesOf({ repo: repository, push: true });
        this.tokens.delete(scopes.join(' '));
        await this.token(challenge, scopes);
      }
    });
  }

  async getManifest(repo: string, ref: string): Promise<Manifest> {
    const what = `GET manifest ${refString(repo, ref)}`;
    return this.retry(what, async () => {
      const res = await this.send({
        method: 'GET',
        url: `/v2/${repo}/manifests/${ref}`,
        what,
        ref: refString(repo, ref),
        headers: { Accept: MANIFEST_ACCEPT },
        access: { repo, push: false },
        ok: [200],
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

  /** Digest, media type and size of a manifest, or undefined when the registry has none. */
  async headManifest(repo: string, ref: string): Promise<ManifestHead | undefined> {
    const what = `HEAD manifest ${refString(repo, ref)}`;
    const head = await this.retry(what, async () => {
      const res = await this.send({
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
    const m = await this.getManifest(repo, ref); // registry left out a header: fetch and hash
    return { digest: m.digest, mediaType: m.mediaType, size: m.body.length };
  }

  /** PUTs manifest bytes under a tag or digest; returns the digest (verified against the body). */
  async putManifest(repo: string, ref: string, body: Buffer, mediaType: string): Promise<string> {
    const digest = sha256Digest(body);
    const what = `PUT manifest ${refString(repo, ref)}`;
    return this.retry(what, async () => {
      const res = await this.send({
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
      return digest;
    });
  }

  /** All tags of a repository (following Link pagination); [] when the repository does not exist. */
  async listTags(repo: string): Promise<string[]> {
    const tags: string[] = [];
    let next: string | undefined = `/v2/${repo}/tags/list?n=1000`;
    while (next) {
      const url: string = next;
      const what = `GET tags ${repo}`;
      const page = await this.retry(what, async () => {
        const res = await this.send({
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

  async hasBlob(repo: string, digest: string): Promise<boolean> {
    const what = `HEAD blob ${refString(repo, digest)}`;
    return this.retry(what, async () => {
      const res = await this.send({
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

  /** Cross-repository mount: true when mounted (201); false when the registry declined (202, upload cancelled). */
  async mountBlob(repo: string, digest: string, fromRepo: string): Promise<boolean> {
    const what = `POST blob mount ${refString(repo, digest)} from ${fromRepo}`;
    return this.retry(what, async () => {
      const q = new URLSearchParams({ mount: digest, from: fromRepo });
      const res = await this.send({
        method: 'POST',
        url: `/v2/${repo}/blobs/uploads/?${q}`,
        what,
        ref: refString(repo, digest),
        headers: { 'Content-Length': '0' },
        access: { repo, push: true, mountFrom: fromRepo },
        ok: [201, 202],
      });
      drain(res);
      if (res.statusCode === 201) return true;
      const location = headerValue(res.headers, 'location');
      if (location) void this.cancelUpload(repo, location);
      return false;
    });
  }

  /** Streams a blob (following redirects to blob storage). */
  async getBlob(repo: string, digest: string): Promise<Readable> {
    const what = `GET blob ${refString(repo, digest)}`;
    return this.retry(what, async () =>
      this.send({
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

  /**
   * Monolithic upload: POST uploads/, then one PUT `?digest=` streaming `open()` with
   * Content-Length `size`. A retryable failure restarts from a fresh POST and a fresh stream.
   */
  async uploadBlob(repo: string, digest: string, size: number, open: OpenStream): Promise<void> {
    const ref = refString(repo, digest);
    await this.retry(`upload blob ${ref}`, async () => {
      const url = await this.startUpload(repo, ref);
      url.searchParams.set('digest', digest);
      const res = await this.send({
        method: 'PUT',
        url,
        what: `PUT blob ${ref}`,
        ref,
        headers: { 'Content-Type': 'application/octet-stream', 'Content-Length': String(size) },
        body: open,
        access: { repo, push: true },
        ok: [201, 204],
      });
      drain(res);
    });
  }

  /**
   * Streams `body`, whose length is not known up front, the way docker does: POST uploads/,
   * one chunked PATCH, then PUT `?digest=` once `digest` resolves (the caller hashes what it
   * feeds in). A stream cannot be replayed, so only the POST and the closing PUT are retried;
   * callers keep a copy to retry the whole upload.
   */
  async uploadStream(repo: string, body: Readable, digest: Promise<string>): Promise<void> {
    const ref = `${repo} (streamed blob)`;
    const location = await this.retry(`POST blob upload ${repo}`, () => this.startUpload(repo, ref));
    let sent = false;
    const patched = await this.send({
      method: 'PATCH',
      url: location,
      what: `PATCH blob ${ref}`,
      ref,
      headers: { 'Content-Type': 'application/octet-stream' },
      // Sent once: a second round (a 401 mid-stream) must fail fast, the caller resends a copy.
      body: () => {
        if (sent) throw new Error('a streamed blob cannot be sent twice');
        sent = true;
        return body;
      },
      access: { repo, push: true },
      ok: [202, 204],
    });
    drain(patched);
    const d = await digest;
    const next = new URL(headerValue(patched.headers, 'location') ?? location.href, this.baseUrl + '/');
    next.searchParams.set('digest', d);
    await this.retry(`PUT blob ${refString(repo, d)}`, async () => {
      const res = await this.send({
        method: 'PUT',
        url: next,
        what: `PUT blob ${refString(repo, d)}`,
        ref: refString(repo, d),
        headers: { 'Content-Length': '0' },
        access: { repo, push: true },
        ok: [201, 204],
      });
      drain(res);
    });
  }

  private async startUpload(repo: string, ref: string): Promise<URL> {
    const start = await this.send({
      method: 'POST',
      url: `/v2/${repo}/blobs/uploads/`,
      what: `POST blob upload ${repo}`,
      ref,
      headers: { 'Content-Length': '0' },
      access: { repo, push: true },
      ok: [202],
    });
    drain(start);
    const location = headerValue(start.headers, 'location');
    if (!location) {
      throw new RegistryError(
        `registry ${this.registry}: POST blob upload ${repo} answered without a Location`,
        {
          registry: this.registry,
          ref,
          retryable: false,
        },
      );
    }
    return new URL(location, this.baseUrl + '/');
  }

  /** Best-effort DELETE of an upload session we do not need. */
  private async cancelUpload(repo: string, location: string): Promise<void> {
    try {
      const res = await this.send({
        method: 'DELETE',
        url: new URL(location, this.baseUrl + '/'),
        what: `DELETE blob upload ${repo}`,
        access: { repo, push: true },
        ok: [200, 202, 204, 404],
      });
      drain(res);
    } catch (e) {
      this.log.debug(`registry ${this.registry}: cancelling an upload failed: ${(e as Error).message}`);
    }
  }

  // ---------------------------------------------------------------- plumbing

  private retry<T>(what: string, fn: () => Promise<T>): Promise<T> {
    return withRetry(`${what} on ${this.registry}`, fn, this.policy, this.log);
  }

  private unauthorized(detail: string, ref?: string): RegistryError {
    const init = {
      status: 401,
      code: 'UNAUTHORIZED',
      registry: this.registry,
      retryable: false,
      reason: '401 Unauthorized',
    };
    return new RegistryError(`registry ${this.registry}: ${detail}`, ref ? { ...init, ref } : init);
  }

  private noteChallenge(headers: IncomingHttpHeaders): Challenge | undefined {
    const c = parseChallenge(headers['www-authenticate']);
    if (c) {
      const changed = JSON.stringify(c) !== JSON.stringify(this.challenge);
      this.challenge = c;
      if (changed) this.tokens.clear();
    }
    return c;
  }

  private getCredential(): Promise<Credential | undefined> {
    if (!this.credential) {
      const lookup = this.credentials ? this.credentials(this.registry) : Promise.resolve(undefined);
      this.credential = lookup.catch((e: unknown) => {
        this.credential = undefined;
        throw e;
      });
    }
    return this.credential;
  }

  /** Authorization header for the current challenge, fetching a token when needed. */
  private async authorization(access: Access | undefined): Promise<string | undefined> {
    const challenge = this.challenge;
    if (!challenge) return undefined;
    const cred = await this.getCredential();
    if (challenge.scheme === 'basic') {
      if (!cred || !('username' in cred)) return undefined;
      return `Basic ${Buffer.from(`${cred.username}:${cred.password}`).toString('base64')}`;
    }
    let scopes = scopesOf(access);
    if (access && !access.push && !access.mountFrom) {
      const pushScopes = scopesOf({ ...access, push: true });
      if (this.tokens.has(pushScopes.join(' '))) scopes = pushScopes; // a push token also reads
    }
    return `Bearer ${(await this.token(challenge, scopes)).token}`;
  }

  private async token(challenge: Challenge & { scheme: 'bearer' }, scopes: string[]): Promise<CachedToken> {
    const key = scopes.join(' ');
    const cached = this.tokens.get(key);
    if (cached) {
      const t = await cached.catch(() => undefined);
      if (t && t.expiresAt > Date.now()) return t;
      if (this.tokens.get(key) === cached) this.tokens.delete(key);
    }
    const p = this.fetchToken(challenge, scopes);
    this.tokens.set(key, p);
    p.catch(() => {
      if (this.tokens.get(key) === p) this.tokens.delete(key);
    });
    return p;
  }

  private async fetchToken(
    challenge: Challenge & { scheme: 'bearer' },
    scopes: string[],
  ): Promise<CachedToken> {
    const cred = await this.getCredential();
    const url = new URL(challenge.realm);
    const what = `GET token ${url.host}${url.pathname} for ${scopes.join(' ') || 'registry'}`;
    let res: IncomingMessage;
    if (cred && 'identityToken' in cred) {
      const form = new URLSearchParams({
        grant_type: 'refresh_token',
        refresh_token: cred.identityToken,
        client_id: this.userAgent,
      });
      if (challenge.service) form.set('service', challenge.service);
      if (scopes.length) form.set('scope', scopes.join(' '));
      res = await this.send({
        method: 'POST',
        url,
        what,
        headers: { 'Content-Type': 'application/x-www-form-urlencoded' },
        body: Buffer.from(form.toString()),
        ok: [200],
        auth: false,
      });
    } else {
      if (challenge.service) url.searchParams.set('service', challenge.service);
      for (const s of scopes) url.searchParams.append('scope', s);
      const headers: Record<string, string> = {};
      if (cred)
        headers.Authorization = `Basic ${Buffer.from(`${cred.username}:${cred.password}`).toString('base64')}`;
      res = await this.send({ method: 'GET', url, what, headers, ok: [200], auth: false });
    }
    const body = JSON.parse((await readAll(res, 1024 * 1024)).toString('utf8')) as {
      token?: string;
      access_token?: string;
      expires_in?: number;
    };
    const token = body.token ?? body.access_token;
    if (!token) {
      throw new RegistryError(`registry ${this.registry}: ${what} answered without a token`, {
        registry: this.registry,
        retryable: false,
      });
    }
    const lifetime = Math.max(30, body.expires_in ?? 60) * 1000;
    return { token, expiresAt: Date.now() + lifetime - 15_000 };
  }

  /**
   * DELETEs the manifest `digest` (and with it every tag on it). 'unsupported' when the
   * registry refuses deletes (405, distribution with delete disabled), 'absent' on 404.
   */
  async deleteManifest(repo: string, digest: string): Promise<'deleted' | 'absent' | 'unsupported'> {
    const what = `DELETE manifest ${refString(repo, digest)}`;
    return this.retry(what, async () => {
      const res = await this.send({
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

  /**
   * One HTTP exchange (no retries): adds auth, answers a 401 challenge once, follows
   * redirects when asked. Returns the response with its body unread when the status is in
   * `ok`; otherwise throws a RegistryError (network errors included).
   */
  private async send(o: SendOptions): Promise<IncomingMessage> {
    try {
      return await this.exchange(o);
    } catch (e) {
      if (e instanceof RegistryError) throw e;
      const c = classifyError(e);
      const code = (e as NodeJS.ErrnoException).code;
      const msg = (e as Error).message ?? String(e);
      const init = { registry: this.registry, retryable: c.retryable, reason: code ?? msg, cause: e };
      throw new RegistryError(
        `registry ${this.registry}: ${o.what} failed: ${msg}${code && !msg.includes(code) ? ` (${code})` : ''}`,
        o.ref ? { ...init, ref: o.ref } : init,
      );
    }
  }

  private async exchange(o: SendOptions): Promise<IncomingMessage> {
    let url = typeof o.url === 'string' ? new URL(this.baseUrl + o.url) : o.url;
    const useAuth = o.auth !== false;
    let res: IncomingMessage | undefined;
    for (let round = 0; round < 2; round++) {
      const headers: Record<string, string> = { 'User-Agent': this.userAgent, ...o.headers };
      const authz = useAuth ? await this.authorization(o.access) : undefined;
      if (authz) headers.Authorization = authz;
      res = await this.raw(o.method, url, headers, o.body);
      if (res.statusCode !== 401 || !useAuth || round > 0) break;
      // 401: learn the challenge and try once more, unless we already sent what it asks for.
      const before = this.challenge;
      const challenge = parseChallenge(res.headers['www-authenticate']);
      if (!challenge) break;
      if (authz && challenge.scheme === 'basic' && before?.scheme === 'basic') break; // wrong password
      if (challenge.scheme === 'basic') {
        const cred = await this.getCredential();
        if (!cred || !('username' in cred)) break; // nothing to answer with
      }
      drain(res);
      this.noteChallenge(res.headers);
      if (authz && challenge.scheme === 'bearer' && before?.scheme === 'bearer') {
        this.tokens.delete(scopesOf(o.access).join(' ')); // expired or revoked: one fresh token
      }
    }
    res = res!;
    for (let hops = 0; o.followRedirects && [301, 302, 303, 307, 308].includes(res.statusCode ?? 0); hops++) {
      const location = headerValue(res.headers, 'location');
      if (!location || hops >= 5) break;
      drain(res);
      const next = new URL(location, url);
      const headers: Record<string, string> = { 'User-Agent': this.userAgent };
      if (next.origin === url.origin) {
        const authz = await this.authorization(o.access);
        if (authz) headers.Authorization = authz;
      }
      url = next;
      res = await this.raw(o.method === 'HEAD' ? 'HEAD' : 'GET', url, headers, undefined);
    }
    if (o.ok.includes(res.statusCode ?? 0)) return res;
    throw await this.httpError(o, res);
  }

  private async httpError(o: SendOptions, res: IncomingMessage): Promise<RegistryError> {
    const status = res.statusCode ?? 0;
    const statusText = res.statusMessage || http.STATUS_CODES[status] || '';
    let code: string | undefined;
    let detail = '';
    if (o.method !== 'HEAD') {
      try {
        const body = await readAll(res, 64 * 1024);
        const parsed = JSON.parse(body.toString('utf8')) as {
          errors?: { code?: string; message?: string }[];
        };
        const first = parsed.errors?.[0];
        if (first?.code) {
          code = first.code;
          detail = `: ${first.code}${first.message ? ` ${first.message}` : ''}`;
        }
      } catch {
        /* not JSON: the status says enough */
      }
    } else {
      drain(res);
    }
    if (!code && status === 401) code = 'UNAUTHORIZED';
    if (!code && status === 403) code = 'DENIED';
    if (!code && status === 429) code = 'TOOMANYREQUESTS';
    const init: ConstructorParameters<typeof RegistryError>[1] = {
      status,
      registry: this.registry,
      retryable: isRetryableStatus(status),
      reason: `${status} ${statusText}`.trim(),
    };
    if (code) init.code = code;
    if (o.ref) init.ref = o.ref;
    const retryAfter = parseRetryAfter(headerValue(res.headers, 'retry-after'));
    if (retryAfter !== undefined) init.retryAfterMs = retryAfter;
    return new RegistryError(
      `registry ${this.registry}: ${o.what} answered ${status} ${statusText}${detail}`,
      init,
    );
  }

  /** A single request; resolves with the response (body unread) or rejects on network errors. */
  private async raw(
    method: string,
    url: URL,
    headers: Record<string, string>,
    body: Buffer | OpenStream | undefined,
  ): Promise<IncomingMessage> {
    const source = typeof body === 'function' ? await body() : body;
    const isHttps = url.protocol === 'https:';
    const lib = isHttps ? https : http;
    if (Buffer.isBuffer(source)) headers['Content-Length'] = String(source.length);
    return new Promise<IncomingMessage>((resolve, reject) => {
      let settled = false;
      const fail = (e: Error) => {
        if (settled) return;
        settled = true;
        if (source instanceof Readable) source.destroy();
        reject(e);
      };
      const req = lib.request(
        url,
        { method, headers, agent: isHttps ? this.httpsAgent : this.httpAgent },
        (res) => {
          if (settled) {
            drain(res);
            return;
          }
          settled = true;
          if (source instanceof Readable && !source.readableEnded) {
            // Answered before the body was sent (an error): stop sending, do not reuse the socket.
            source.unpipe(req);
            source.destroy();
            res.once('close', () => req.destroy());
          }
          resolve(res);
        },
      );
      req.setTimeout(this.timeoutMs, () => {
        const e = Object.assign(new Error(`request timeout after ${this.timeoutMs} ms`), {
          code: 'ETIMEDOUT',
        });
        req.destroy(e);
      });
      req.on('error', fail);
      if (source instanceof Readable) {
        source.on('error', (e) => {
          fail(e);
          req.destroy(e);
        });
        source.pipe(req);
      } else {
        req.end(source);
      }
    });
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
