/**
 * The transient registry faults every publish path must survive (issue 5), shared by the
 * export path's tests (reliability.test.ts) and the daemon push path's (daemonfaults.test.ts),
 * and what a run's log and the fault proxy say about them.
 */
import type { Fault, FaultProxy } from '../helpers/faultproxy.js';
import type { Result } from './harness.js';

export const RETRY_LINE = /; retrying in \d+\.\ds \(attempt \d+\/\d+\)$/;

export function retryLines(r: Result): string[] {
  return r.log.split('\n').filter((l) => RETRY_LINE.test(l.trimEnd()));
}

export function errorLines(r: Result): string[] {
  return r.log.split('\n').filter((l) => l.startsWith('::error'));
}

/** Requests the proxy answered with one of `faults` (status 0 = a reset connection). */
export function served(
  proxy: FaultProxy,
  faults: Fault[],
): { method: string; path: string; status: number }[] {
  return proxy.requests.filter((q) =>
    faults.some(
      (f) =>
        (!f.method || f.method === q.method) &&
        f.path.test(q.path) &&
        q.status === (f.action === 'reset' || 'resetAfterBytes' in f.action ? 0 : f.action.status),
    ),
  );
}

/** Requests that failed for any reason (injected or not): 0 = reset, 429, 5xx. */
export function failedRequests(proxy: FaultProxy): { method: string; path: string; status: number }[] {
  return proxy.requests.filter((q) => q.status === 0 || q.status === 429 || q.status >= 500);
}

// ------------------------------------------------------------------------------------------------

export interface Scenario {
  name: string;
  /** Faults for the run; repoA is the first image (the daemon pushes it), repoB the second. */
  faults: (repoA: string, repoB: string) => Fault[];
  /** Push to a second repository too, so the action's own blob copy runs (mount POSTs). */
  twoRepos?: boolean;
  /** One pattern per retry line the action must print, in any order. */
  retries: RegExp[];
  /** Blobs whose stream broke and that were sent again from the relay's spool file. */
  resent?: number;
  /** Size of the layer's payload (random, so it does not compress). */
  layerBytes?: number;
}

export const manifestPut = (tag: string) => new RegExp(`/manifests/${tag}$`);

export const scenarios: Scenario[] = [
  {
    name: 'two 503s on the first manifest PUTs',
    faults: () => [{ method: 'PUT', path: /\/manifests\//, times: 2, action: { status: 503 } }],
    retries: [/^PUT manifest .*: 503 .*; retrying/, /^PUT manifest .*: 503 .*; retrying/],
  },
  {
    name: 'two 503s on the manifest PUTs of two given tags',
    faults: () => [
      { method: 'PUT', path: manifestPut('two'), times: 1, action: { status: 503 } },
      { method: 'PUT', path: manifestPut('three'), times: 1, action: { status: 503 } },
    ],
    retries: [
      /^PUT manifest .*:two on .*: 503 .*; retrying/,
      /^PUT manifest .*:three on .*: 503 .*; retrying/,
    ],
  },
  {
    name: 'a 429 with Retry-After: 1 on the blob upload start and on the cross-repository mount',
    twoRepos: true,
    faults: (repoA, repoB) => [
      // The relay streams to the first repository: its upload starts with a POST to uploads/.
      {
        method: 'POST',
        path: new RegExp(`^/v2/${repoA}/blobs/uploads/`),
        times: 1,
        action: { status: 429, headers: { 'Retry-After': '1' } },
      },
      // The second repository on the same registry mounts the blob from the first.
      {
        method: 'POST',
        path: new RegExp(`^/v2/${repoB}/blobs/uploads/`),
        times: 1,
        action: { status: 429, headers: { 'Retry-After': '1' } },
      },
    ],
    retries: [
      /^POST blob upload .* 429 Too Many Requests; retrying in 1\.0s/,
      /^POST blob mount .* 429 Too Many Requests; retrying in 1\.0s/,
    ],
  },
  {
    name: 'a reset connection in the middle of a layer upload, sent again from the spool',
    faults: (repoA) => [
      {
        method: 'PATCH',
        path: new RegExp(`^/v2/${repoA}/blobs/uploads/`),
        times: 1,
        action: { resetAfterBytes: 4096 },
      },
    ],
    retries: [],
    resent: 1,
    // Far over the cut, so the layer breaks mid-body (the small config blob passes).
    layerBytes: 256 * 1024,
  },
  {
    name: 'a reset connection on the first manifest PUT',
    faults: () => [{ method: 'PUT', path: /\/manifests\//, times: 1, action: 'reset' }],
    retries: [/^PUT manifest .*: (ECONNRESET|EPIPE|socket hang up).*; retrying/],
  },
  {
    name: 'a reset connection on the manifest PUT of a given tag',
    faults: () => [{ method: 'PUT', path: manifestPut('two'), times: 1, action: 'reset' }],
    retries: [/^PUT manifest .*:two on .*: (ECONNRESET|EPIPE|socket hang up).*; retrying/],
  },
  {
    name: 'a 502 on the login probe GET /v2/ (once)',
    faults: () => [{ method: 'GET', path: /^\/v2\/$/, times: 1, action: { status: 502 } }],
    retries: [/^check credentials .*: 502 Bad Gateway; retrying/],
  },
  {
    name: 'a 502 on the login probe GET /v2/ (twice)',
    faults: () => [{ method: 'GET', path: /^\/v2\/$/, times: 2, action: { status: 502 } }],
    retries: [
      /^check credentials .*: 502 Bad Gateway; retrying/,
      /^check credentials .*: 502 Bad Gateway; retrying/,
    ],
  },
];
