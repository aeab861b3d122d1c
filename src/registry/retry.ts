/**
 * One retry policy for everything that talks to a registry: our own HTTP client and the
 * wrapper around `docker login` (through isRetryableDockerError).
 */
import type { Logger } from '../log.js';

export interface RetryPolicy {
  /** Total tries, the first one included. */
  attempts: number;
  /** Backoff cap of the first retry; doubles each retry (full jitter below the cap). */
  baseDelayMs: number;
  /** Largest backoff cap. */
  maxDelayMs: number;
  /** No retry starts later than this after the first try began. */
  totalMs: number;
}

export const DEFAULT_RETRY: RetryPolicy = Object.freeze({
  attempts: 5,
  baseDelayMs: 500,
  maxDelayMs: 10_000,
  totalMs: 90_000,
});

export interface RegistryErrorInit {
  status?: number;
  code?: string;
  registry: string;
  ref?: string;
  retryable: boolean;
  retryAfterMs?: number;
  /** Short reason for retry log lines, e.g. `503 Service Unavailable` or `ECONNRESET`. */
  reason?: string;
  cause?: unknown;
}

/** A failed registry operation: HTTP status and registry error code when there was an answer. */
export class RegistryError extends Error {
  status?: number;
  /** Registry error code, e.g. DENIED, UNAUTHORIZED, MANIFEST_INVALID, NAME_UNKNOWN, TOOMANYREQUESTS. */
  code?: string;
  registry: string;
  ref?: string;
  retryable: boolean;
  retryAfterMs?: number;
  reason: string;

  constructor(message: string, init: RegistryErrorInit) {
    super(message, init.cause === undefined ? undefined : { cause: init.cause });
    this.name = 'RegistryError';
    this.registry = init.registry;
    this.retryable = init.retryable;
    if (init.status !== undefined) this.status = init.status;
    if (init.code !== undefined) this.code = init.code;
    if (init.ref !== undefined) this.ref = init.ref;
    if (init.retryAfterMs !== undefined) this.retryAfterMs = init.retryAfterMs;
    this.reason = init.reason ?? (init.status !== undefined ? String(init.status) : message);
  }
}

/** HTTP statuses worth another try. */
export function isRetryableStatus(status: number): boolean {
  return (
    status === 429 || status === 408 || (status >= 500 && status <= 599 && status !== 501 && status !== 505)
  );
}

/** Retry-After as seconds or an HTTP-date → milliseconds from `now`. */
export function parseRetryAfter(value: string | undefined, now = Date.now()): number | undefined {
  if (value === undefined) return undefined;
  const v = value.trim();
  if (!v) return undefined;
  if (/^\d+(\.\d+)?$/.test(v)) return Math.round(Number(v) * 1000);
  const at = Date.parse(v);
  if (Number.isNaN(at)) return undefined;
  return Math.max(0, at - now);
}

const RETRYABLE_ERRNO = new Set([
  'ECONNRESET',
  'ECONNREFUSED',
  'ECONNABORTED',
  'EPIPE',
  'ETIMEDOUT',
  'ENETUNREACH',
  'EHOSTUNREACH',
  'ENETDOWN',
  'EAI_AGAIN',
  'UND_ERR_SOCKET',
  'ERR_STREAM_PREMATURE_CLOSE',
]);

export interface Classification {
  retryable: boolean;
  reason: string;
  retryAfterMs?: number;
}

/** Decides whether any thrown value is worth another try. */
export function classifyError(err: unknown): Classification {
  if (err instanceof RegistryError) {
    const c: Classification = { retryable: err.retryable, reason: err.reason };
    if (err.retryAfterMs !== undefined) c.retryAfterMs = err.retryAfterMs;
    return c;
  }
  const e = err as
    | { code?: unknown; message?: unknown; retryable?: unknown; reason?: unknown; retryAfterMs?: unknown }
    | undefined;
  const code = typeof e?.code === 'string' ? e.code : undefined;
  const message = typeof e?.message === 'string' ? e.message : String(err);
  // An error that says itself whether it is worth another try (the docker login
  // wrapper's ActionableErrors, classified from docker's stderr) is taken at its word.
  if (err instanceof Error && typeof e?.retryable === 'boolean') {
    const c: Classification = {
      retryable: e.retryable,
      reason: typeof e.reason === 'string' && e.reason ? e.reason : message,
    };
    if (typeof e.retryAfterMs === 'number') c.retryAfterMs = e.retryAfterMs;
    return c;
  }
  if (code && RETRYABLE_ERRNO.has(code)) return { retryable: true, reason: code };
  if (/socket hang up|request timeout|timed out|ECONNRESET|EPIPE/i.test(message)) {
    return { retryable: true, reason: message };
  }
  return { retryable: false, reason: message };
}

export type Sleep = (ms: number) => Promise<void>;
const realSleep: Sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

/** The backoff cap before retry number `retry` (1-based). */
export function backoffCap(policy: RetryPolicy, retry: number): number {
  return Math.min(policy.maxDelayMs, policy.baseDelayMs * 2 ** (retry - 1));
}

/**
 * Runs `fn` until it succeeds, a failure is not retryable, `policy.attempts` are used up, or the
 * next try would start after `policy.totalMs`. Waits full-jitter exponential backoff between
 * tries, or the server's Retry-After when it asked for one. Each retry logs one info line:
 * `<what>: <reason>; retrying in <n.n>s (attempt k/N)` where k is the try about to start.
 * The final error is rethrown with ` (gave up after k attempts)` appended when retries ran out.
 */
export async function withRetry<T>(
  what: string,
  fn: (attempt: number) => Promise<T>,
  policy: RetryPolicy = DEFAULT_RETRY,
  log?: Pick<Logger, 'info'>,
  sleep: Sleep = realSleep,
  random: () => number = Math.random,
): Promise<T> {
  const started = Date.now();
  let slept = 0;
  for (let attempt = 1; ; attempt++) {
    try {
      return await fn(attempt);
    } catch (err) {
      const c = classifyError(err);
      if (!c.retryable) throw err;
      if (attempt >= policy.attempts) throw gaveUp(err, attempt);
      let delay = Math.round(random() * backoffCap(policy, attempt));
      if (c.retryAfterMs !== undefined) delay = Math.max(delay, c.retryAfterMs);
      const elapsed = Math.max(Date.now() - started, slept);
      if (elapsed + delay > policy.totalMs) throw gaveUp(err, attempt);
      log?.info(
        `${what}: ${c.reason}; retrying in ${(delay / 1000).toFixed(1)}s (attempt ${attempt + 1}/${policy.attempts})`,
      );
      await sleep(delay);
      slept += delay;
    }
  }
}

function gaveUp(err: unknown, attempts: number): unknown {
  if (attempts > 1 && err instanceof Error && !/gave up after/.test(err.message)) {
    err.message = `${err.message} (gave up after ${attempts} attempts)`;
  }
  return err;
}

/**
 * Classifies what `docker push` / `docker pull` / `docker login` printed on stderr so their
 * wrappers can reuse withRetry: throw a RegistryError built from this when it is retryable.
 * Note: a 5xx on the `/v2/` probe makes `docker login` print 401 Unauthorized, so a login
 * wrapper must confirm with RegistryClient.ping() before trusting a 401.
 */
export function isRetryableDockerError(stderr: string): Classification {
  const text = stderr.trim();
  const line = lastMeaningfulLine(text);
  const fatal: [RegExp, string][] = [
    [/server gave HTTP response to HTTPS client/i, 'registry speaks plain HTTP'],
    [/x509:|certificate (signed by unknown|has expired|is not valid)/i, 'TLS certificate rejected'],
    [/no basic auth credentials/i, 'no credentials'],
    [/\bunauthorized\b|authentication required|401 Unauthorized/i, 'unauthorized'],
    [/\bdenied\b|403 Forbidden/i, 'denied'],
    [/name unknown|repository name not known/i, 'name unknown'],
    [/manifest unknown|manifest for .* not found/i, 'manifest unknown'],
    [/blob unknown/i, 'blob unknown'],
    [/manifest invalid|manifest blob unknown|invalid reference format|tag invalid/i, 'invalid request'],
    [/no such image|does not exist locally|An image does not exist/i, 'no such image'],
  ];
  const transient: [RegExp, (m: RegExpExecArray) => string][] = [
    [/toomanyrequests|429 Too Many Requests|status:? 429\b/i, () => '429 Too Many Requests'],
    [
      /(?:HTTP status|status code|status|HTTP):? (5\d\d)(?: (Internal Server Error|Bad Gateway|Service Unavailable|Gateway Time-?out))?/i,
      (m) => `${m[1]} ${m[2] ?? ''}`.trim(),
    ],
    [
      /\b(50[0234]) (Internal Server Error|Bad Gateway|Service Unavailable|Gateway Time-?out)/i,
      (m) => `${m[1]} ${m[2]}`,
    ],
    [/connection reset by peer/i, () => 'connection reset by peer'],
    [/broken pipe/i, () => 'broken pipe'],
    [/TLS handshake timeout/i, () => 'TLS handshake timeout'],
    [/i\/o timeout/i, () => 'i/o timeout'],
    [
      /timeout exceeded while awaiting headers|Client\.Timeout exceeded|context deadline exceeded/i,
      () => 'timeout',
    ],
    [/connection refused/i, () => 'connection refused'],
    [/temporary failure in name resolution|server misbehaving/i, () => 'DNS failure'],
    [/server sent GOAWAY|http2: .*stream error|request canceled/i, () => 'connection dropped'],
    [/unexpected EOF|\bEOF\b/, () => 'unexpected EOF'],
  ];
  for (const [re, reason] of fatal)
    if (re.test(text)) return { retryable: false, reason: `${reason}: ${line}` };
  for (const [re, reason] of transient) {
    const m = re.exec(text);
    if (m) {
      const c: Classification = { retryable: true, reason: reason(m) };
      const ra = /retry[- ]after:?\s*(\d+)\s*s?/i.exec(text);
      if (ra) c.retryAfterMs = Number(ra[1]) * 1000;
      return c;
    }
  }
  return { retryable: false, reason: line || 'unknown error' };
}

function lastMeaningfulLine(text: string): string {
  const lines = text
    .split('\n')
    .map((l) => l.trim())
    .filter((l) => l && !/^DEPRECATED|buildx component|Install the buildx/i.test(l));
  return lines[lines.length - 1] ?? '';
}
