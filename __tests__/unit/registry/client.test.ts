import { afterAll, beforeAll, beforeEach, describe, expect, it } from '@jest/globals';
import { createHash } from 'node:crypto';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { RegistryClient, parseChallenge } from '../../../src/registry/client.js';
import { staticCredentials } from '../../../src/registry/credentials.js';
import { silentLogger } from '../../../src/log.js';
import { RegistryError } from '../../../src/registry/retry.js';

/** A fake token-auth registry on 127.0.0.1, enough to exercise the Bearer flow. */
const manifest = Buffer.from('{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json"}');
const digest = `sha256:${createHash('sha256').update(manifest).digest('hex')}`;
const blob = Buffer.from('blob bytes');
const blobDigest = `sha256:${createHash('sha256').update(blob).digest('hex')}`;

interface Seen {
  method: string;
  url: string;
  auth?: string;
}

let server: http.Server;
let port = 0;
let seen: Seen[] = [];
const tokens = new Map<string, string[]>(); // token → granted scopes

function scopesAllow(auth: string | undefined, repo: string, action: 'pull' | 'push'): boolean {
  const granted = tokens.get((auth ?? '').replace(/^Bearer /, '')) ?? [];
  return granted.some((s) => {
    const [, r, actions] = s.split(':');
    return r === repo && (actions ?? '').split(',').includes(action);
  });
}

function handler(req: http.IncomingMessage, res: http.ServerResponse): void {
  const url = new URL(req.url ?? '/', `http://${req.headers.host}`);
  const auth = req.headers.authorization;
  seen.push({ method: req.method ?? '', url: url.pathname + url.search, ...(auth ? { auth } : {}) });
  const json = (status: number, body: unknown, headers: Record<string, string> = {}) => {
    res.writeHead(status, { 'Content-Type': 'application/json', ...headers });
    res.end(JSON.stringify(body));
  };
  const challenge = (scope?: string) =>
    json(
      401,
      { errors: [{ code: 'UNAUTHORIZED', message: 'authentication required' }] },
      {
        'WWW-Authenticate': `Bearer realm="http://127.0.0.1:${port}/token",service="fake"${scope ? `,scope="${scope}"` : ''}`,
      },
    );
  req.resume();
  if (url.pathname === '/token') {
    const scopes = url.searchParams.getAll('scope');
    if (url.searchParams.get('service') !== 'fake') return json(400, {});
    if (auth && auth !== `Basic ${Buffer.from('user:pass').toString('base64')}`)
      return json(401, { details: 'bad creds' });
    const token = `tok-${tokens.size}`;
    // Anonymous callers only ever get pull.
    tokens.set(token, auth ? scopes : scopes.map((s) => s.replace(/:[^:]+$/, ':pull')));
    return auth ? json(200, { access_token: token, expires_in: 300 }) : json(200, { token });
  }
  if (url.pathname === '/v2/') return auth && tokens.has(auth.slice(7)) ? json(200, {}) : challenge();
  if (url.pathname === '/storage/blob') {
    if (auth) return json(400, { errors: [{ code: 'LEAK', message: 'auth sent to storage' }] });
    res.writeHead(200, { 'Content-Length': String(blob.length) });
    return void res.end(blob);
  }
  const m = /^\/v2\/(.+)\/(manifests|tags|blobs)\/(.+)$/.exec(url.pathname);
  if (!m) return json(404, {});
  const [, repo, kind, ref] = m as unknown as [string, string, string, string];
  const write = req.method !== 'GET' && req.method !== 'HEAD';
  if (!scopesAllow(auth, repo, write ? 'push' : 'pull'))
    return challenge(`repository:${repo}:${write ? 'pull,push' : 'pull'}`);
  if (kind === 'manifests' && req.method === 'GET') {
    if (ref !== '1' && ref !== digest)
      return json(404, { errors: [{ code: 'MANIFEST_UNKNOWN', message: 'manifest unknown' }] });
    res.writeHead(200, {
      'Content-Type': 'application/vnd.oci.image.manifest.v1+json',
      'Docker-Content-Digest': digest,
    });
    return void res.end(manifest);
  }
  if (kind === 'manifests' && req.method === 'PUT') {
    const answered = ref === 'lie' ? `sha256:${'0'.repeat(64)}` : digest;
    res.writeHead(201, { 'Docker-Content-Digest': answered, Location: `/v2/${repo}/manifests/${answered}` });
    return void res.end();
  }
  if (kind === 'tags') {
    const last = url.searchParams.get('last');
    if (!last)
      return json(
        200,
        { name: repo, tags: ['a', 'b'] },
        { Link: `</v2/${repo}/tags/list?n=2&last=b>; rel="next"` },
      );
    return json(200, { name: repo, tags: ['c'] });
  }
  if (kind === 'blobs' && ref === blobDigest) {
    res.writeHead(307, { Location: `http://localhost:${port}/storage/blob` });
    return void res.end();
  }
  if (kind === 'blobs' && ref === 'uploads/') {
    if (url.searchParams.get('mount') === 'sha256:mountable') {
      res.writeHead(201, { Location: `/v2/${repo}/blobs/sha256:mountable` });
      return void res.end();
    }
    res.writeHead(202, { Location: `/v2/${repo}/blobs/uploads/session-1?_state=x` });
    return void res.end();
  }
  if (kind === 'blobs' && ref.startsWith('uploads/session-1') && req.method === 'DELETE') {
    res.writeHead(204);
    return void res.end();
  }
  json(404, {});
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
});

const fastPolicy = { attempts: 3, baseDelayMs: 1, maxDelayMs: 5, totalMs: 1000 };
function client(
  creds: { username: string; password: string } | null = { username: 'user', password: 'pass' },
) {
  const registry = `127.0.0.1:${port}`;
  return new RegistryClient({
    registry,
    credentials: staticCredentials({ [registry]: creds ?? undefined }),
    log: silentLogger,
    policy: fastPolicy,
  });
}
const tokenRequests = () => seen.filter((s) => s.url.startsWith('/token'));

describe('RegistryClient with Bearer token auth', () => {
  it('gets a token for the repository pull scope with basic credentials, accepts access_token, and caches it', async () => {
    const c = client();
    const got = await c.getManifest('acme/api', '1');
    expect(got).toEqual({ body: manifest, mediaType: 'application/vnd.oci.image.manifest.v1+json', digest });
    await c.getManifest('acme/api', digest);
    expect(tokenRequests().map((s) => s.url)).toEqual([
      '/token?service=fake&scope=repository%3Aacme%2Fapi%3Apull',
    ]);
    expect(tokenRequests()[0]!.auth).toBe(`Basic ${Buffer.from('user:pass').toString('base64')}`);
    c.close();
  });

  it('asks pull,push for writes and reuses that token for reads', async () => {
    const c = client();
    expect(await c.putManifest('acme/api', '2', manifest, 'application/vnd.oci.image.manifest.v1+json')).toBe(
      digest,
    );
    await c.getManifest('acme/api', '1');
    expect(tokenRequests().map((s) => new URL(s.url, 'http://x').searchParams.getAll('scope'))).toEqual([
      ['repository:acme/api:pull,push'],
    ]);
    c.close();
  });

  it('reads anonymously with a `token` answer when there are no credentials', async () => {
    const c = client(null);
    expect((await c.getManifest('acme/api', '1')).digest).toBe(digest);
    expect(tokenRequests()[0]!.auth).toBeUndefined();
    c.close();
  });

  it('checkCredentials rejects wrong credentials with a non-retryable 401 UNAUTHORIZED', async () => {
    const c = client({ username: 'user', password: 'nope' });
    const err = (await c.checkCredentials('acme/api').catch((e: unknown) => e)) as RegistryError;
    expect(err).toBeInstanceOf(RegistryError);
    expect(err).toMatchObject({ status: 401, code: 'UNAUTHORIZED', retryable: false });
    expect(tokenRequests()).toHaveLength(1);
    await expect(client().checkCredentials('acme/api')).resolves.toBeUndefined();
  });

  it('follows Link pagination when listing tags', async () => {
    expect(await client().listTags('acme/api')).toEqual(['a', 'b', 'c']);
  });

  it('follows a blob redirect to another host without sending Authorization there', async () => {
    const stream = await client().getBlob('acme/api', blobDigest);
    const chunks: Buffer[] = [];
    for await (const c of stream) chunks.push(c as Buffer);
    expect(Buffer.concat(chunks)).toEqual(blob);
  });

  it('turns the registry error JSON into a RegistryError with status, code and ref', async () => {
    const err = (await client()
      .getManifest('acme/api', 'missing')
      .catch((e: unknown) => e)) as RegistryError;
    expect(err).toBeInstanceOf(RegistryError);
    expect(err).toMatchObject({
      status: 404,
      code: 'MANIFEST_UNKNOWN',
      ref: 'acme/api:missing',
      retryable: false,
    });
    expect(err.message).toBe(
      `registry 127.0.0.1:${port}: GET manifest acme/api:missing answered 404 Not Found: MANIFEST_UNKNOWN manifest unknown`,
    );
    expect(await client().headManifest('acme/api', 'missing')).toBeUndefined();
  });

  it('refuses a stored digest that is not the sha256 of the manifest body', async () => {
    await expect(client().putManifest('acme/api', 'lie', manifest, 'application/json')).rejects.toThrow(
      /stored digest sha256:0+, expected sha256:/,
    );
  });

  it('mounts with a token covering both repositories, and hands back the upload session of a declined mount', async () => {
    const c = client();
    expect(await c.mountBlob('acme/api', 'sha256:mountable', 'acme/base')).toEqual({ mounted: true });
    expect(new URL(tokenRequests()[0]!.url, 'http://x').searchParams.getAll('scope')).toEqual([
      'repository:acme/api:pull,push',
      'repository:acme/base:pull',
    ]);
    const declined = await c.mountBlob('acme/api', 'sha256:other', 'acme/base');
    expect(declined.mounted).toBe(false);
    expect(!declined.mounted && declined.session?.pathname).toBe('/v2/acme/api/blobs/uploads/session-1');
    expect(seen.some((s) => s.method === 'DELETE')).toBe(false);
    c.close();
  });
});

describe('parseChallenge', () => {
  it.each([
    ['Basic realm="reg1"', { scheme: 'basic' }],
    ['BASIC realm="Sonatype Nexus Repository Manager"', { scheme: 'basic' }],
    [
      'Basic realm="https://123.dkr.ecr.us-east-1.amazonaws.com/",service="ecr.amazonaws.com"',
      { scheme: 'basic' },
    ],
    ['BEARER realm="https://t",service="s"', { scheme: 'bearer', realm: 'https://t', service: 's' }],
    [
      'Bearer realm="https://auth.docker.io/token",service="registry.docker.io",scope="repository:a/b:pull"',
      { scheme: 'bearer', realm: 'https://auth.docker.io/token', service: 'registry.docker.io' },
    ],
    ['bearer realm=https://x/token', { scheme: 'bearer', realm: 'https://x/token' }],
    [
      ['Basic realm="x"', 'Bearer realm="https://t",service="s"'],
      { scheme: 'bearer', realm: 'https://t', service: 's' },
    ],
    ['Negotiate', undefined],
    [undefined, undefined],
  ])('%j', (header, expected) => {
    expect(parseChallenge(header)).toEqual(expected);
  });
});
