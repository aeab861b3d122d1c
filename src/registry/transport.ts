/**
 * The transport under every registry API call: one exchange with a registry, authenticated
 * (auth.ts), answering a 401 challenge, following blob redirects, turning any other answer into a
 * RegistryError (an AccessDeniedError when the user may not do it), and withRetry around it.
 * It knows nothing of manifests, blobs or tags: client.ts and uploads.ts speak the API.
 */
import http, { type IncomingMessage } from 'node:http';
import type { Logger } from '../log.js';
import { Auth, deniedBy, scopesOf, type Access, type TokenRequest } from './auth.js';
import type { CredentialLookup } from './credentials.js';
import { AccessDeniedError } from './denied.js';
import { HttpConnection, drain, headerValue, readAll, type OpenStream } from './http.js';
import {
  RegistryError,
  classifyError,
  isRetryableStatus,
  parseRetryAfter,
  withRetry,
  type RetryPolicy,
} from './retry.js';
import { grantsPush } from './tokens.js';

export interface SendOptions {
  method: string;
  /** A path under the registry's base URL, or a URL (a Location the registry gave). */
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
  /** false: no Authorization and no challenge handling (the /v2/ probe, the token server). */
  auth?: boolean;
  /** Set on the second try after a redirect target refused its URL (expired): asked once more. */
  reasked?: boolean;
}

export interface TransportOptions {
  registry: string;
  baseUrl: string;
  credentials?: CredentialLookup;
  policy: RetryPolicy;
  log: Logger;
  userAgent: string;
  timeoutMs: number;
}

const REDIRECTS = [301, 302, 303, 307, 308];

function withoutAccess(o: SendOptions): SendOptions {
  const copy = { ...o };
  delete copy.access;
  return copy;
}

export class Transport {
  readonly registry: string;
  readonly baseUrl: string;
  readonly log: Logger;
  private readonly policy: RetryPolicy;
  private readonly userAgent: string;
  private readonly http: HttpConnection;
  private readonly auth: Auth;

  constructor(o: TransportOptions) {
    this.registry = o.registry;
    this.baseUrl = o.baseUrl;
    this.log = o.log;
    this.policy = o.policy;
    this.userAgent = o.userAgent;
    this.http = new HttpConnection(o.timeoutMs);
    const token = (r: TokenRequest) => this.send({ ...r, ok: [200], auth: false });
    this.auth = new Auth(o.registry, o.credentials, o.userAgent, token);
  }

  close(): void {
    this.http.close();
  }

  /** A URL the registry gave (a Location), relative ones resolved against the base URL. */
  resolve(location: string): URL {
    return new URL(location, this.baseUrl + '/');
  }

  retry<T>(what: string, fn: () => Promise<T>): Promise<T> {
    return withRetry(`${what} on ${this.registry}`, fn, this.policy, this.log);
  }

  /** GET /v2/: resolves when the registry answers (a 401 challenge counts as up). */
  async ping(): Promise<void> {
    await this.retry('GET /v2/', async () => {
      const res = await this.probe([200, 401]);
      if (res.statusCode === 401) this.auth.note(res.headers);
      drain(res);
    });
  }

  /**
   * Proves the registry accepts our credentials for `repository` (push scope): a Basic
   * registry must not answer 401 to them, a Bearer realm must hand out a token. Wrong or
   * missing credentials throw a non-retryable RegistryError status 401 code UNAUTHORIZED; a
   * token server that leaves push out, an AccessDeniedError.
   */
  async checkCredentials(repository: string): Promise<void> {
    await this.retry(`check credentials for ${repository}`, async () => {
      const probe = await this.probe([200, 401]);
      drain(probe);
      if (probe.statusCode === 200) return; // no auth required at all
      const challenge = this.auth.note(probe.headers);
      if (!challenge)
        throw this.unauthorized('GET /v2/ answered 401 without a usable WWW-Authenticate challenge');
      if (!(await this.auth.credentials())) throw this.unauthorized(`no credentials for ${this.registry}`);
      if (challenge.scheme === 'basic') {
        const access = { repo: repository, push: true };
        drain(await this.send({ method: 'GET', url: '/v2/', what: 'GET /v2/', ok: [200], access }));
        return;
      }
      const t = await this.auth.freshToken(challenge, scopesOf({ repo: repository, push: true }));
      // A token server that leaves push out says "logged in, but not allowed here".
      if (repository && grantsPush(t.token, repository) === false) {
        const user = await this.auth.user();
        throw new AccessDeniedError({
          registry: this.registry,
          repository,
          action: 'push',
          said: 'the token server granted no push access',
          ...(user ? { user } : {}),
        });
      }
    });
  }

  private probe(ok: number[]): Promise<IncomingMessage> {
    return this.send({ method: 'GET', url: '/v2/', what: 'GET /v2/', ok, auth: false });
  }

  unauthorized(detail: string, ref?: string): RegistryError {
    const init = {
      status: 401,
      code: 'UNAUTHORIZED',
      registry: this.registry,
      retryable: false,
      reason: '401 Unauthorized',
    };
    return new RegistryError(`registry ${this.registry}: ${detail}`, ref ? { ...init, ref } : init);
  }

  /**
   * One HTTP exchange (no retries): adds auth, answers a 401 challenge, follows redirects when
   * asked. Returns the response with its body unread when the status is in `ok`; otherwise
   * throws a RegistryError (network errors included).
   */
  async send(o: SendOptions): Promise<IncomingMessage> {
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
    const start = typeof o.url === 'string' ? new URL(this.baseUrl + o.url) : o.url;
    const useAuth = o.auth !== false;
    let res: IncomingMessage | undefined;
    // Up to three rounds: the first may learn the challenge; a 401 to a token drops it and
    // sends a fresh one. A third is for a 401 that arrived late, when the token another request
    // had fetched to replace ours had itself died meanwhile (short-lived tokens, slow answers).
    for (let round = 0; round < 3; round++) {
      const headers: Record<string, string> = { 'User-Agent': this.userAgent, ...o.headers };
      const authz = useAuth ? await this.auth.header(o.access) : undefined;
      if (authz) headers.Authorization = authz.header;
      res = await this.http.request(o.method, start, headers, o.body);
      if (res.statusCode !== 401 || !useAuth) break;
      const denied = deniedBy(o.what, o.access, res, authz);
      if (denied) throw await this.denied(o, res, denied.said, denied.certain);
      if (round === 2 || !(await this.auth.answer(res, authz))) break;
    }
    const { res: last, url } = await this.redirected(o, start, res!);
    const away = url.origin !== start.origin;
    if (away && !o.reasked && [401, 403].includes(last.statusCode ?? 0)) {
      // Blob storage refused the URL the registry gave (S3 and GHCR URLs expire after minutes):
      // the registry hands out a fresh one when asked again.
      this.log.debug(`${o.what}: ${url.host} answered ${last.statusCode}; asking ${this.registry} again`);
      drain(last);
      return this.exchange({ ...o, reasked: true });
    }
    if (o.ok.includes(last.statusCode ?? 0)) return last;
    // Refused by blob storage, not by the registry: no statement about the user's rights.
    throw await this.httpError(away ? withoutAccess(o) : o, last);
  }

  /** Follows redirects (blob storage) when asked; credentials go only to the registry's own origin. */
  private async redirected(
    o: SendOptions,
    start: URL,
    first: IncomingMessage,
  ): Promise<{ res: IncomingMessage; url: URL }> {
    let res = first;
    let url = start;
    for (let hops = 0; o.followRedirects && REDIRECTS.includes(res.statusCode ?? 0); hops++) {
      const location = headerValue(res.headers, 'location');
      if (!location || hops >= 5) break;
      drain(res);
      const next = new URL(location, url);
      const headers: Record<string, string> = { 'User-Agent': this.userAgent };
      if (next.origin === url.origin) {
        const again = await this.auth.header(o.access);
        if (again) headers.Authorization = again.header;
      }
      url = next;
      res = await this.http.request(o.method === 'HEAD' ? 'HEAD' : 'GET', url, headers, undefined);
    }
    return { res, url };
  }

  /** The user is known but may not do this to `o.access.repo`: never retried, never "log in". */
  private async denied(
    o: SendOptions,
    res: IncomingMessage,
    said: string,
    certain = false,
  ): Promise<AccessDeniedError> {
    drain(res);
    const user = await this.auth.user();
    const access = o.access!;
    return new AccessDeniedError({
      registry: this.registry,
      repository: access.repo,
      action: access.push ? 'push' : 'pull',
      said,
      ...(res.statusCode ? { status: res.statusCode } : {}),
      ...(certain ? { certain } : {}),
      ...(o.ref ? { ref: o.ref } : {}),
      ...(user ? { user } : {}),
    });
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
    if (status === 403 && o.access) {
      drain(res);
      return this.denied(o, res, `${o.what} answered 403${detail}`);
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
}
