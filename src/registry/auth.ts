/**
 * Who we are to a registry: its WWW-Authenticate challenge, our credentials for it, and the
 * Authorization header each request carries (Basic, or a Bearer token of the scopes the request
 * needs, fetched from the challenge's realm and cached by tokens.ts).
 */
import type { IncomingHttpHeaders, IncomingMessage } from 'node:http';
import type { Credential, CredentialLookup } from './credentials.js';
import { drain, readAll } from './http.js';
import { RegistryError } from './retry.js';
import { maskSecret } from '../secrets.js';
import { TokenCache, challengeError, grantsPush, tokenExpiry, type CachedToken } from './tokens.js';

export type Challenge = { scheme: 'basic' } | { scheme: 'bearer'; realm: string; service?: string };
type Bearer = Challenge & { scheme: 'bearer' };

/** What a request does to which repository: the token scopes it needs. */
export interface Access {
  repo: string;
  push: boolean;
  mountFrom?: string;
  /** Ask for the `delete` action too (token registries grant manifest DELETE only with it). */
  delete?: boolean;
}

/** An Authorization header, and the bearer token in it (so a 401 drops exactly the token sent). */
export interface Authz {
  header: string;
  token?: string;
}

/** A request to the token server (sent without registry auth by the transport). */
export interface TokenRequest {
  method: 'GET' | 'POST';
  url: URL;
  what: string;
  headers: Record<string, string>;
  body?: Buffer;
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

export function scopesOf(access: Access | undefined): string[] {
  if (!access) return [];
  const actions = `${access.push ? 'pull,push' : 'pull'}${access.delete ? ',delete' : ''}`;
  const scopes = [`repository:${access.repo}:${actions}`];
  if (access.mountFrom && access.mountFrom !== access.repo)
    scopes.push(`repository:${access.mountFrom}:pull`);
  return scopes;
}

/**
 * Why a 401 to a bearer token means "known, but not allowed" (asking the token server again
 * would get the same grant), or undefined when the token may just have expired. `certain`: the
 * token itself leaves push to the repository out, so no other request can succeed either (an
 * insufficient_scope on a mount may be about its source repository instead).
 */
export function deniedBy(
  what: string,
  access: Access | undefined,
  res: IncomingMessage,
  authz: Authz | undefined,
): { said: string; certain: boolean } | undefined {
  if (!access || !authz?.token) return undefined;
  const noPush = access.push && grantsPush(authz.token, access.repo) === false;
  if (challengeError(res.headers['www-authenticate']) === 'insufficient_scope')
    return { said: `${what} answered 401 insufficient_scope`, certain: noPush };
  if (noPush) return { said: `${what} answered 401 and the token grants no push`, certain: true };
  return undefined;
}

const basicHeader = (c: { username: string; password: string }) =>
  `Basic ${Buffer.from(`${c.username}:${c.password}`).toString('base64')}`;

export class Auth {
  private current?: Challenge;
  private credential?: Promise<Credential | undefined>;
  private readonly tokens = new TokenCache();

  constructor(
    private readonly registry: string,
    private readonly lookup: CredentialLookup | undefined,
    private readonly userAgent: string,
    /** Sends a token request; resolves with a 200 answer, else throws a RegistryError. */
    private readonly send: (r: TokenRequest) => Promise<IncomingMessage>,
  ) {}

  /** The registry's challenge, once a 401 told it. */
  get challenge(): Challenge | undefined {
    return this.current;
  }

  credentials(): Promise<Credential | undefined> {
    if (!this.credential) {
      const lookup = this.lookup ? this.lookup(this.registry) : Promise.resolve(undefined);
      this.credential = lookup.catch((e: unknown) => {
        this.credential = undefined;
        throw e;
      });
    }
    return this.credential;
  }

  /** The user name the registry sees, for error messages; undefined when anonymous. */
  async user(): Promise<string | undefined> {
    const cred = await this.credentials().catch(() => undefined);
    return cred && 'username' in cred ? cred.username : undefined;
  }

  /** Learns a challenge; a different one (another realm) makes every cached token useless. */
  note(headers: IncomingHttpHeaders): Challenge | undefined {
    const c = parseChallenge(headers['www-authenticate']);
    if (c) {
      const changed = JSON.stringify(c) !== JSON.stringify(this.current);
      this.current = c;
      if (changed) this.tokens.clear();
    }
    return c;
  }

  /** Authorization header for the current challenge, fetching a token when needed. */
  async header(access: Access | undefined): Promise<Authz | undefined> {
    const challenge = this.current;
    if (!challenge) return undefined;
    const cred = await this.credentials();
    if (challenge.scheme === 'basic') {
      if (!cred || !('username' in cred)) return undefined;
      return { header: basicHeader(cred) };
    }
    let scopes = scopesOf(access);
    if (access && !access.push && !access.mountFrom) {
      const pushScopes = scopesOf({ ...access, push: true });
      if (this.tokens.has(pushScopes.join(' '))) scopes = pushScopes; // a push token also reads
    }
    const t = await this.tokens.get(scopes.join(' '), () => this.fetchToken(challenge, scopes));
    return { header: `Bearer ${t.token}`, token: t.token };
  }

  /** A token fetched afresh, not from the cache: it proves the credentials, a cached one does not. */
  freshToken(challenge: Bearer, scopes: string[]): Promise<CachedToken> {
    this.tokens.forget(scopes.join(' '));
    return this.tokens.get(scopes.join(' '), () => this.fetchToken(challenge, scopes));
  }

  /**
   * Learns a 401's challenge; true when another round is worth sending: credentials the first
   * did not carry, or a fresh token in place of the expired or revoked one just sent.
   */
  async answer(res: IncomingMessage, authz: Authz | undefined): Promise<boolean> {
    const before = this.current;
    const challenge = parseChallenge(res.headers['www-authenticate']);
    if (!challenge) return false;
    if (authz && challenge.scheme === 'basic' && before?.scheme === 'basic') return false; // wrong password
    if (challenge.scheme === 'basic') {
      const cred = await this.credentials();
      if (!cred || !('username' in cred)) return false; // nothing to answer with
    }
    drain(res);
    this.note(res.headers);
    // Forget the very token sent (a read may have sent the push token), not the one the
    // request's own scopes name: otherwise the second round would send the same dead token.
    if (authz?.token && challenge.scheme === 'bearer' && before?.scheme === 'bearer')
      this.tokens.drop(authz.token);
    return true;
  }

  private async fetchToken(challenge: Bearer, scopes: string[]): Promise<CachedToken> {
    const cred = await this.credentials();
    const url = new URL(challenge.realm);
    const what = `GET token ${url.host}${url.pathname} for ${scopes.join(' ') || 'registry'}`;
    const requestedAt = Date.now();
    let res: IncomingMessage;
    if (cred && 'identityToken' in cred) {
      const form = new URLSearchParams({
        grant_type: 'refresh_token',
        refresh_token: cred.identityToken,
        client_id: this.userAgent,
      });
      if (challenge.service) form.set('service', challenge.service);
      if (scopes.length) form.set('scope', scopes.join(' '));
      const headers = { 'Content-Type': 'application/x-www-form-urlencoded' };
      res = await this.send({ method: 'POST', url, what, headers, body: Buffer.from(form.toString()) });
    } else {
      if (challenge.service) url.searchParams.set('service', challenge.service);
      for (const s of scopes) url.searchParams.append('scope', s);
      const headers: Record<string, string> = {};
      if (cred) headers.Authorization = basicHeader(cred);
      res = await this.send({ method: 'GET', url, what, headers });
    }
    const body = JSON.parse((await readAll(res, 1024 * 1024)).toString('utf8')) as {
      token?: string;
      access_token?: string;
      refresh_token?: string;
      expires_in?: number;
    };
    // Masked the moment they exist: a token is as good as the password for its lifetime.
    for (const t of [body.token, body.access_token, body.refresh_token])
      if (typeof t === 'string') maskSecret(t);
    const token = body.token ?? body.access_token;
    if (!token) {
      throw new RegistryError(`registry ${this.registry}: ${what} answered without a token`, {
        registry: this.registry,
        retryable: false,
      });
    }
    return { token, expiresAt: tokenExpiry(body.expires_in, requestedAt) };
  }
}
