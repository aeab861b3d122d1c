/**
 * Bearer tokens of the registry token protocol (Docker Hub, GHCR, Quay, Harbor, distribution in
 * `auth: token` mode): how long one may be used, a cache keyed by the scopes it was asked for,
 * and what a token grants when it is a JWT that says so.
 */

export interface CachedToken {
  token: string;
  /** When to stop sending it (ms since the epoch): a little before the registry would refuse it. */
  expiresAt: number;
}

/** The token protocol's lifetime when the answer has no `expires_in`. */
export const DEFAULT_TOKEN_LIFETIME_S = 60;

/**
 * When a token answered with `expires_in` (seconds) stops being used, counted from when it was
 * asked for (our own clock: `issued_at` is the token server's clock, which may be skewed). It is
 * renewed a little early, 10% of its lifetime and at most 10 s, so one sent just before it ends
 * still arrives valid; no floor, so a 1 s token is renewed after 0.9 s rather than reused.
 */
export function tokenExpiry(expiresIn: unknown, requestedAt: number): number {
  const seconds =
    typeof expiresIn === 'number' && Number.isFinite(expiresIn) && expiresIn > 0
      ? expiresIn
      : DEFAULT_TOKEN_LIFETIME_S;
  const ms = seconds * 1000;
  return requestedAt + ms - Math.min(10_000, ms / 10);
}

interface Entry {
  promise: Promise<CachedToken>;
  value?: CachedToken;
}

/** Tokens by scope set; one request in flight per scope set, shared by everyone who needs it. */
export class TokenCache {
  private readonly entries = new Map<string, Entry>();

  constructor(private readonly now: () => number = Date.now) {}

  /** True when a usable (or still arriving) token for `key` is at hand. */
  has(key: string): boolean {
    const e = this.entries.get(key);
    return !!e && (!e.value || e.value.expiresAt > this.now());
  }

  async get(key: string, fetch: () => Promise<CachedToken>): Promise<CachedToken> {
    const e = this.entries.get(key);
    if (e) {
      const t = await e.promise.catch(() => undefined);
      if (t && t.expiresAt > this.now()) return t;
      if (this.entries.get(key) === e) this.entries.delete(key);
      // Someone else may already be fetching the replacement.
      const next = this.entries.get(key);
      if (next && next !== e) return this.get(key, fetch);
    }
    const entry: Entry = { promise: fetch() };
    this.entries.set(key, entry);
    entry.promise.then(
      (t) => {
        entry.value = t;
      },
      () => {
        if (this.entries.get(key) === entry) this.entries.delete(key);
      },
    );
    return entry.promise;
  }

  /**
   * Forgets `token` (one the registry just refused) under whatever scope set it was cached.
   * A request that sent an older token, refused after a newer one arrived, drops nothing.
   */
  drop(token: string): boolean {
    let dropped = false;
    for (const [key, e] of this.entries) {
      if (e.value?.token === token) {
        this.entries.delete(key);
        dropped = true;
      }
    }
    return dropped;
  }

  /** Forgets whatever is cached under `key`, so the next get asks the token server. */
  forget(key: string): void {
    this.entries.delete(key);
  }

  clear(): void {
    this.entries.clear();
  }
}

/** The `error` parameter of a Bearer challenge (RFC 6750 §3.1): `invalid_token`, `insufficient_scope`. */
export function challengeError(header: string | string[] | undefined): string | undefined {
  const values = Array.isArray(header) ? header : header ? [header] : [];
  for (const v of values) {
    if (!/^\s*bearer\b/i.test(v)) continue;
    const m = /(?:^|[\s,])error\s*=\s*(?:"([^"]*)"|([^,\s]*))/i.exec(v.replace(/^\s*bearer/i, ''));
    if (m) return (m[1] ?? m[2] ?? '').toLowerCase() || undefined;
  }
  return undefined;
}

interface AccessClaim {
  type?: unknown;
  name?: unknown;
  actions?: unknown;
}

/**
 * The actions a token grants on `repo`, read from the `access` claim that the Docker token
 * format carries (Docker Hub, distribution, Harbor, Quay, ACR); undefined when the token is
 * not such a JWT or does not mention `repo` at all, so the registry's own answer decides.
 */
export function grantedActions(token: string, repo: string): string[] | undefined {
  const parts = token.split('.');
  if (parts.length !== 3) return undefined;
  let claims: { access?: unknown };
  try {
    claims = JSON.parse(Buffer.from(parts[1]!, 'base64url').toString('utf8')) as { access?: unknown };
  } catch {
    return undefined;
  }
  if (!Array.isArray(claims?.access)) return undefined;
  const access = claims.access as AccessClaim[];
  // An empty list is how token servers say "nothing of what you asked for".
  if (access.length === 0) return [];
  const mine = access.filter((a) => a?.type === 'repository' && a.name === repo);
  if (mine.length === 0) return undefined;
  return mine.flatMap((a) => (Array.isArray(a.actions) ? a.actions.map(String) : []));
}

/** false when the token says it does not allow a push to `repo`; undefined when it cannot tell. */
export function grantsPush(token: string, repo: string): boolean | undefined {
  const actions = grantedActions(token, repo);
  if (actions === undefined) return undefined;
  return actions.includes('push') || actions.includes('*');
}
