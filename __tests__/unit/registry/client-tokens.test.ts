/**
 * The client against a fake token registry whose tokens die when the test says so (revoked,
 * or a skewed clock: the registry refuses them although `expires_in` says they are good), and
 * whose token server grants push only to the user's own namespace.
 */
import { afterAll, beforeAll, beforeEach, describe, expect, it } from '@jest/globals';
import { createHash } from 'node:crypto';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { RegistryClient } from '../../../src/registry/client.js';
import { staticCredentials } from '../../../src/registry/credentials.js';
import { AccessDeniedError } from '../../../src/registry/denied.js';
import { explainFailure, explainLoginFailure } from '../../../src/explain.js';
import { silentLogger } from '../../../src/log.js';

const manifest = Buffer.from('{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json"}');
const digest = `sha256:${createHash('sha256').update(manifest).digest('hex')}`;

interface Seen {
  method: string;
  path: string;
  token?: string;
  status: number;
}
let server: http.Server;
let port = 0;
let seen: Seen[] = [];
/** token → granted `repo:action` pairs; a token missing here is dead (expired or revoked). */
const live = new Map<string, Set<string>>();
let issued = 0;
let expiresIn: number | undefined = 300;
/** Answer writes with 403 DENIED instead of a challenge (GHCR-style). */
let denyWith403 = false;
/** A refusal of a dead token on this path arrives late, and every token dies while it travels. */
let late401: { path: string; ms: number } | undefined;

function jwt(access: { type: string; name: string; actions: string[] }[]): string {
  const part = (v: unknown) => Buffer.from(JSON.stringify(v)).toString('base64url');
  return `${part({ alg: 'RS256' })}.${part({ access, jti: ++issued })}.sig`;
}

function handler(req: http.IncomingMessage, res: http.ServerResponse): void {
  const url = new URL(req.url ?? '/', 'http://x');
  const auth = req.headers.authorization ?? '';
  const token = auth.startsWith('Bearer ') ? auth.slice(7) : undefined;
  const answer = (status: number, headers: Record<string, string> = {}, body = '') => {
    seen.push({ method: req.method ?? '', path: url.pathname, status, ...(token ? { token } : {}) });
    res.writeHead(status, { 'Content-Type': 'application/json', ...headers });
    res.end(body);
  };
  req.resume();
  if (url.pathname === '/token') {
    const basic = `Basic ${Buffer.from('carol:pw').toString('base64')}`;
    if (auth && auth !== basic) return answer(401);
    const access = url.searchParams.getAll('scope').map((s) => {
      const [, name, actions] = /^repository:(.+):([^:]+)$/.exec(s)!;
      const mine = auth && name!.startsWith('carol/');
      return {
        type: 'repository',
        name: name!,
        actions: actions!.split(',').filter((a) => a === 'pull' || mine),
      };
    });
    const t = jwt(access);
    live.set(t, new Set(access.flatMap((a) => a.actions.map((x) => `${a.name}:${x}`))));
    return answer(
      200,
      {},
      JSON.stringify(expiresIn === undefined ? { token: t } : { token: t, expires_in: expiresIn }),
    );
  }
  const realm = `Bearer realm="http://127.0.0.1:${port}/token",service="fake"`;
  if (url.pathname === '/v2/')
    return answer(token && live.has(token) ? 200 : 401, { 'WWW-Authenticate': realm });
  const m = /^\/v2\/(.+)\/(manifests|blobs)\/(.*)$/.exec(url.pathname)!;
  const [, repo, kind] = m;
  const action = req.method === 'GET' || req.method === 'HEAD' ? 'pull' : 'push';
  const scope = `,scope="repository:${repo}:${action === 'push' ? 'pull,push' : 'pull'}"`;
  if (!token) return answer(401, { 'WWW-Authenticate': realm + scope });
  const grants = live.get(token);
  if (!grants) {
    const refuse = () => answer(401, { 'WWW-Authenticate': `${realm}${scope},error="invalid_token"` });
    if (late401 && url.pathname === late401.path) {
      return void setTimeout(() => {
        live.clear();
        refuse();
      }, late401.ms);
    }
    return refuse();
  }
  if (!grants.has(`${repo}:${action}`)) {
    if (denyWith403)
      return answer(403, {}, JSON.stringify({ errors: [{ code: 'DENIED', message: 'permission_denied' }] }));
    return answer(401, { 'WWW-Authenticate': `${realm}${scope},error="insufficient_scope"` });
  }
  if (kind === 'manifests' && req.method === 'PUT') return answer(201, { 'Docker-Content-Digest': digest });
  if (kind === 'manifests') {
    const headers = {
      'Content-Type': 'application/vnd.oci.image.manifest.v1+json',
      'Docker-Content-Digest': digest,
      'Content-Length': String(manifest.length),
    };
    return answer(200, headers, req.method === 'HEAD' ? '' : manifest.toString());
  }
  if (kind === 'blobs' && req.method === 'POST')
    return answer(202, { Location: `/v2/${repo}/blobs/uploads/u1` });
  if (kind === 'blobs' && req.method === 'PUT') return answer(201);
  return answer(200, { 'Content-Length': '0' });
}

beforeAll(async () => {
  server = http.createServer(handler);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  port = (server.address() as AddressInfo).port;
});
afterAll(async () => {
  server.closeAllConnections();
  await new Promise((resolve) => server.close(resolve));
});
beforeEach(() => {
  seen = [];
  live.clear();
  expiresIn = 300;
  denyWith403 = false;
  late401 = undefined;
});

function client() {
  const registry = `127.0.0.1:${port}`;
  return new RegistryClient({
    registry,
    credentials: staticCredentials({ [registry]: { username: 'carol', password: 'pw' } }),
    log: silentLogger,
    policy: { attempts: 5, baseDelayMs: 1, maxDelayMs: 5, totalMs: 5000 },
  });
}
const tokenRequests = () => seen.filter((s) => s.path === '/token').length;
const revokeAll = () => live.clear();

type Op = (c: RegistryClient) => Promise<unknown>;
const repo = 'carol/app';

describe('a token the registry refuses as expired is renewed once, for reads and writes', () => {
  it.each<[string, Op, string]>([
    ['GET manifest', (c) => c.getManifest(repo, 'v1'), 'GET'],
    ['HEAD manifest', (c) => c.headManifest(repo, 'v1'), 'HEAD'],
    ['HEAD blob', (c) => c.hasBlob(repo, digest), 'HEAD'],
    [
      'PUT manifest',
      (c) => c.putManifest(repo, 'v1', manifest, 'application/vnd.oci.image.manifest.v1+json'),
      'PUT',
    ],
    [
      'blob upload (POST + PUT)',
      (c) => c.uploadBlob(repo, digest, 1, () => Promise.resolve(Buffer.from('x')) as never),
      'POST',
    ],
  ])(
    '%s after the push token died: the token sent is dropped, a new one fetched, the request sent again',
    async (_name, op, method) => {
      const c = client();
      await c.putManifest(repo, 'v0', manifest, 'application/vnd.oci.image.manifest.v1+json'); // caches a push token
      const first = seen.filter((s) => s.token)[0]!.token!;
      revokeAll();
      seen = [];
      await op(c);
      const tries = seen.filter((s) => s.method === method && s.path.startsWith(`/v2/${repo}/`));
      expect(tries.map((s) => s.status).slice(0, 2)).toEqual([401, expect.any(Number)]);
      expect(tries[1]!.status).not.toBe(401);
      expect(tries[0]!.token).toBe(first);
      expect(tries[1]!.token).not.toBe(first);
      expect(tokenRequests()).toBe(1);
      c.close();
    },
  );
});

describe('a refusal that arrives after the token was already renewed, and the renewal died too', () => {
  it('the late request drops the dead replacement as well and succeeds with a third token', async () => {
    const c = client();
    await c.putManifest(repo, 'v0', manifest, 'application/vnd.oci.image.manifest.v1+json');
    revokeAll();
    late401 = { path: `/v2/${repo}/blobs/${digest}`, ms: 150 };
    seen = [];
    // The HEAD blob's refusal is slow: the GET renews the token meanwhile, then that one dies.
    const [held, m] = await Promise.all([c.hasBlob(repo, digest), c.getManifest(repo, 'v1')]);
    expect(held).toBe(true);
    expect(m.digest).toBe(digest);
    const heads = seen.filter((s) => s.method === 'HEAD');
    expect(heads.map((s) => s.status)).toEqual([401, 401, 200]);
    expect(new Set(heads.map((s) => s.token)).size).toBe(3);
    c.close();
  });
});

describe("a token's own expires_in is honoured", () => {
  it.each([
    ['expires_in 1: a request 1.1 s later fetches a fresh token before sending', 1, 1100, 2],
    ['expires_in 300: the token is reused', 300, 50, 1],
  ])('%s', async (_name, lifetime, waitMs, tokens) => {
    expiresIn = lifetime;
    const c = client();
    await c.headManifest(repo, 'v1');
    await new Promise((r) => setTimeout(r, waitMs));
    await c.headManifest(repo, 'v1');
    expect(tokenRequests()).toBe(tokens);
    // Never a 401 round trip for a token we knew was over.
    expect(seen.filter((s) => s.status === 401 && s.token)).toEqual([]);
    c.close();
  });
});

describe('a push the user may not make fails at once, as access denied', () => {
  it.each<[string, boolean, Op]>([
    [
      'POST upload answered 401 insufficient_scope',
      false,
      (c) => c.uploadBlob('otheruser/app', digest, 1, () => Promise.resolve(Buffer.from('x')) as never),
    ],
    [
      'PUT manifest answered 401 insufficient_scope',
      false,
      (c) => c.putManifest('otheruser/app', 'v1', manifest, 'application/vnd.oci.image.manifest.v1+json'),
    ],
    [
      'PUT manifest answered 403 DENIED',
      true,
      (c) => c.putManifest('otheruser/app', 'v1', manifest, 'application/vnd.oci.image.manifest.v1+json'),
    ],
    ['checkCredentials: the token server left push out', false, (c) => c.checkCredentials('otheruser/app')],
  ])('%s', async (_name, forbid, op) => {
    denyWith403 = forbid;
    const c = client();
    const err = await op(c).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(AccessDeniedError);
    const denied = err as AccessDeniedError;
    expect(denied).toMatchObject({
      retryable: false,
      code: 'DENIED',
      repository: 'otheruser/app',
      action: 'push',
      user: 'carol',
    });
    // One token, one request that carried it (after the first, which learns the challenge), no retry.
    expect(tokenRequests()).toBe(1);
    const tries = seen.filter((s) => s.path.startsWith('/v2/otheruser/'));
    expect(tries.filter((s) => s.token).length).toBeLessThanOrEqual(1);
    expect(tries.length).toBeLessThanOrEqual(2);
    const explained = explainFailure(
      'Push',
      `127.0.0.1:${port}/otheruser/app:v1`,
      `127.0.0.1:${port}`,
      err,
    ).message;
    expect(explained).toMatch(/Access denied: .* says user carol may not push to otheruser\/app/);
    expect(explained).not.toMatch(/not logged in/);
    expect(explainLoginFailure(`127.0.0.1:${port}`, 'carol', err).message).not.toMatch(
      /rejected the credentials/,
    );
    c.close();
  });

  it('a mount into a repository the token grants no push fails as denied, with no plain upload after it', async () => {
    const c = client();
    const err = await c
      .mountOrUpload(
        'otheruser/app',
        digest,
        'carol/base',
        1,
        () => Promise.resolve(Buffer.from('x')) as never,
      )
      .catch((e: unknown) => e);
    expect(err).toBeInstanceOf(AccessDeniedError);
    expect(err).toMatchObject({ repository: 'otheruser/app', action: 'push', certain: true });
    // The mount without a token (learning the challenge) and with it; no POST or PUT after.
    expect(seen.filter((s) => s.path.startsWith('/v2/otheruser/')).map((s) => s.method)).toEqual([
      'POST',
      'POST',
    ]);
    c.close();
  });

  it.each([
    [
      'docker.io',
      /must start with your Docker Hub user or an organization you belong to \(here "otheruser\/"\)/,
    ],
    ['ghcr.io', /packages: write/],
    ['registry.example.com', /push \(write\) permission on otheruser\/app on registry\.example\.com/],
  ])('the advice for %s', (registry, advice) => {
    const e = new AccessDeniedError({
      registry,
      repository: 'otheruser/app',
      action: 'push',
      user: 'carol',
      said: '401 insufficient_scope',
    });
    expect(explainFailure('Push', `${registry}/otheruser/app:1`, registry, e).message).toMatch(advice);
  });

  it('an anonymous push is told to log in, not that the login worked', () => {
    const e = new AccessDeniedError({
      registry: 'r.example',
      repository: 'a/b',
      action: 'push',
      said: '401 insufficient_scope',
    });
    const text = explainFailure('Push', 'r.example/a/b:1', 'r.example', e).message;
    expect(text).toMatch(/anonymous user .* Give username\/password/);
    expect(text).not.toMatch(/login itself worked/);
  });
});
