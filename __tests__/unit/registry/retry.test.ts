import { describe, expect, it } from '@jest/globals';
import {
  DEFAULT_RETRY,
  RegistryError,
  backoffCap,
  classifyError,
  parseRetryAfter,
  withRetry,
  type RetryPolicy,
} from '../../../src/registry/retry.js';

const httpError = (status: number, extra: Partial<ConstructorParameters<typeof RegistryError>[1]> = {}) =>
  new RegistryError(`registry r: PUT manifest a:b answered ${status}`, {
    status,
    registry: 'r',
    retryable: status >= 500 || status === 429,
    reason: `${status}`,
    ...extra,
  });
const errno = (code: string, message = code) => Object.assign(new Error(message), { code });

function harness(policy: RetryPolicy = DEFAULT_RETRY) {
  const sleeps: number[] = [];
  const lines: string[] = [];
  const sleep = async (ms: number) => {
    sleeps.push(ms);
  };
  const log = { info: (m: string) => lines.push(m) };
  /** fn failing with `errors` in turn, then returning 'ok'. */
  const run = (errors: unknown[], random = () => 1) => {
    let calls = 0;
    const promise = withRetry(
      'PUT manifest a:b on r',
      async (attempt) => {
        calls++;
        expect(attempt).toBe(calls);
        if (calls <= errors.length) throw errors[calls - 1];
        return 'ok';
      },
      policy,
      log,
      sleep,
      random,
    );
    return { promise, calls: () => calls };
  };
  return { sleeps, lines, run };
}

describe('classifyError', () => {
  it.each([
    [httpError(500), true],
    [httpError(502), true],
    [httpError(503), true],
    [httpError(429), true],
    [httpError(400), false],
    [httpError(401), false],
    [httpError(403), false],
    [httpError(404), false],
    [errno('ECONNRESET'), true],
    [errno('ECONNREFUSED'), true],
    [errno('EPIPE'), true],
    [errno('ETIMEDOUT'), true],
    [new Error('socket hang up'), true],
    [new Error('request timeout after 100 ms'), true],
    [errno('ENOENT'), false],
    [new SyntaxError('Unexpected token'), false],
  ])('%s → retryable %s', (err, retryable) => {
    expect(classifyError(err).retryable).toBe(retryable);
  });
});

describe('parseRetryAfter', () => {
  const now = Date.parse('2026-01-01T00:00:00Z');
  it.each([
    ['1', 1000],
    ['0', 0],
    ['2.5', 2500],
    ['Thu, 01 Jan 2026 00:00:03 GMT', 3000],
    ['Wed, 31 Dec 2025 23:59:00 GMT', 0],
    ['soon', undefined],
    [undefined, undefined],
  ])('%j → %j ms', (value, ms) => {
    expect(parseRetryAfter(value, now)).toBe(ms);
  });
});

describe('withRetry', () => {
  it('retries 5xx and resets until success, one log line per retry', async () => {
    const h = harness();
    const { promise, calls } = h.run([
      httpError(503, { reason: '503 Service Unavailable' }),
      errno('ECONNRESET'),
    ]);
    await expect(promise).resolves.toBe('ok');
    expect(calls()).toBe(3);
    expect(h.lines).toEqual([
      'PUT manifest a:b on r: 503 Service Unavailable; retrying in 0.5s (attempt 2/5)',
      'PUT manifest a:b on r: ECONNRESET; retrying in 1.0s (attempt 3/5)',
    ]);
  });

  it.each([400, 401, 403, 404])('never retries %d', async (status) => {
    const h = harness();
    const err = httpError(status);
    const { promise, calls } = h.run([err]);
    await expect(promise).rejects.toBe(err);
    expect(calls()).toBe(1);
    expect(h.sleeps).toEqual([]);
    expect(err.message).not.toContain('gave up');
  });

  it('keeps every backoff within full jitter of base·2^(k-1), capped by maxDelayMs', async () => {
    const policy: RetryPolicy = { attempts: 8, baseDelayMs: 500, maxDelayMs: 3000, totalMs: 1e9 };
    for (const random of [() => 0, () => 0.5, () => 0.999999, Math.random]) {
      const h = harness(policy);
      await h.run(
        Array.from({ length: 7 }, () => httpError(503)),
        random,
      ).promise;
      expect(h.sleeps).toHaveLength(7);
      h.sleeps.forEach((ms, i) => {
        expect(ms).toBeGreaterThanOrEqual(0);
        expect(ms).toBeLessThanOrEqual(Math.min(3000, 500 * 2 ** i));
      });
    }
    expect([1, 2, 3, 4, 5].map((k) => backoffCap(policy, k))).toEqual([500, 1000, 2000, 3000, 3000]);
  });

  it('waits what Retry-After asks on a 429', async () => {
    const h = harness();
    const { promise } = h.run(
      [httpError(429, { retryAfterMs: 1000, reason: '429 Too Many Requests' })],
      () => 0,
    );
    await expect(promise).resolves.toBe('ok');
    expect(h.sleeps).toEqual([1000]);
    expect(h.lines).toEqual(['PUT manifest a:b on r: 429 Too Many Requests; retrying in 1.0s (attempt 2/5)']);
  });

  it('gives up after policy.attempts, naming the count', async () => {
    const h = harness({ attempts: 3, baseDelayMs: 10, maxDelayMs: 10, totalMs: 1e6 });
    const { promise, calls } = h.run(Array.from({ length: 10 }, () => httpError(503)));
    const err = (await promise.catch((e: unknown) => e)) as RegistryError;
    expect(err.status).toBe(503);
    expect(err.message).toMatch(/answered 503 \(gave up after 3 attempts\)$/);
    expect(calls()).toBe(3);
    expect(h.lines).toHaveLength(2);
  });

  it('never sleeps past totalMs, even for a long Retry-After', async () => {
    const h = harness({ attempts: 10, baseDelayMs: 1000, maxDelayMs: 1000, totalMs: 2500 });
    const { promise, calls } = h.run(Array.from({ length: 10 }, () => httpError(503)));
    await expect(promise).rejects.toBeInstanceOf(RegistryError);
    expect(h.sleeps.reduce((a, b) => a + b, 0)).toBeLessThanOrEqual(2500);
    expect(calls()).toBe(3);

    const h2 = harness({ attempts: 5, baseDelayMs: 10, maxDelayMs: 10, totalMs: 5000 });
    const r2 = h2.run([httpError(429, { retryAfterMs: 60_000 })]);
    await expect(r2.promise).rejects.toMatchObject({ status: 429 });
    expect(h2.sleeps).toEqual([]);
  });
});
