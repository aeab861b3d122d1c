/**
 * How the client takes each registry's answers to uploads, mounts, blob redirects and manifest
 * reads: a small in-memory registry on 127.0.0.1 whose answers a test can override, one row per
 * behaviour of a real registry (see /work/shared/reference/registry-quirks.md).
 */
import { afterAll, beforeAll, beforeEach, describe, expect, it } from '@jest/globals';
import { createHash } from 'node:crypto';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { Readable } from 'node:stream';
import { silentLogger } from '../../../src/log.js';
import { RegistryClient, isMediaTypeRefusal, isStreamRefusal } from '../../../src/registry/client.js';
import { staticCredentials } from '../../../src/registry/credentials.js';
import { AccessDeniedError } from '../../../src/registry/denied.js';
import { RegistryError } from '../../../src/registry/retry.js';

interface Seen {
  method: string;
  path: string;
  bytes: number;
  chunked: boolean;
  auth: boolean;
}
interface Answer {
  status: number;
  headers?: Record<string, string>;
  body?: string;
}
type Override = (method: string, path: string) => Answer | undefined;

const digestOf = (b: Buffer) => `sha256:${createHash('sha256').update(b).digest('hex')}`;
const errors = (code: string) => JSON.stringify({ errors: [{ code, message: code.toLowerCase() }] });

let server: http.Server;
let port = 0;
let seen: Seen[] = [];
let override: Override | undefined;
/** repo -> digest -> bytes; upload session id -> bytes so far. */
let blobs = new Map<string, Map<string, Buffer>>();
let sessions = new Map<string, Buffer>();
const manifest = Buffer.from('{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json"}');

function registry(method: string, url: URL, body: Buffer): Answer {
  const path = url.pathname;
  if (path.startsWith('/storage/')) return { status: 200, body: 'stored bytes' };
  const up = /^\/v2\/(.+)\/blobs\/uploads\/(\w*)$/.exec(path);
  if (up) {
    const [, repo, id] = up as unknown as [string, string, string];
    if (method === 'POST') {
      const mount = url.searchParams.get('mount');
      const from = url.searchParams.get('from') ?? '';
      const held = mount ? blobs.get(from)?.get(mount) : undefined;
      if (mount && held) {
        store(repo, mount, held);
        return { status: 201, headers: { Location: `/v2/${repo}/blobs/${mount}` } };
      }
      const session = `s${sessions.size + 1}`;
      sessions.set(session, Buffer.alloc(0));
      return { status: 202, headers: { Location: `/v2/${repo}/blobs/uploads/${session}?_state=a%3D` } };
    }
    const so_far = sessions.get(id);
    if (!so_far) return { status: 404, body: errors('BLOB_UPLOAD_UNKNOWN') };
    sessions.set(id, Buffer.concat([so_far, body]));
    if (method === 'PATCH') return { status: 202, headers: { Location: path } };
    if (method === 'DELETE') return { status: 204 };
    const all = sessions.get(id)!;
    if (url.searchParams.get('digest') !== digestOf(all))
      return { status: 400, body: errors('DIGEST_INVALID') };
    store(repo, digestOf(all), all);
    return { status: 201 };
  }
  const m = /^\/v2\/(.+)\/manifests\/(.+)$/.exec(path);
  if (m && (method === 'GET' || method === 'HEAD'))
    return {
      status: 200,
      headers: {
        'Content-Type': 'application/vnd.oci.image.manifest.v1+json',
        'Docker-Content-Digest': digestOf(manifest),
      },
      body: manifest.toString(),
    };
  const b = /^\/v2\/(.+)\/blobs\/(sha256:\w+)$/.exec(path);
  if (b && blobs.get(b[1]!)?.has(b[2]!))
    return { status: 307, headers: { Location: `http://localhost:${port}/storage/${b[2]}` } };
  return { status: 404, body: errors('NOT_FOUND') };
}

function store(repo: string, digest: string, data: Buffer): void {
  if (!blobs.has(repo)) blobs.set(repo, new Map());
  blobs.get(repo)!.set(digest, data);
}

beforeAll(async () => {
  server = http.createServer((req, res) => {
    const url = new URL(req.url ?? '/', 'http://x');
    const method = req.method ?? 'GET';
    const entry: Seen = {
      method,
      path: url.pathname + url.search,
      bytes: 0,
      chunked: /chunked/.test(req.headers['transfer-encoding'] ?? ''),
      auth: req.headers.authorization !== undefined,
    };
    seen.push(entry);
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => {
      entry.bytes += c.length;
      chunks.push(c);
    });
    req.on('end', () => {
      const a = override?.(method, entry.path) ?? registry(method, url, Buffer.concat(chunks));
      const length = String(Buffer.byteLength(a.body ?? ''));
      res.writeHead(a.status, { 'Content-Type': 'application/json', 'Content-Length': length, ...a.headers });
      res.end(method === 'HEAD' ? undefined : (a.body ?? ''));
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  port = (server.address() as AddressInfo).port;
});
afterAll(async () => {
  server.closeAllConnections();
  await new Promise((resolve) => server.close(resolve));
});
beforeEach(() => {
  seen = [];
  override = undefined;
  blobs = new Map();
  sessions = new Map();
});

function client(): RegistryClient {
  const registry = `127.0.0.1:${port}`;
  return new RegistryClient({
    registry,
    credentials: staticCredentials({ [registry]: { username: 'u', password: 'p' } }),
    log: silentLogger,
    policy: { attempts: 3, baseDelayMs: 1, maxDelayMs: 2, totalMs: 2000 },
  });
}

const requests = (method: string, re: RegExp = /./) =>
  seen.filter((s) => s.method === method && re.test(s.path));
const stream = (b: Buffer) => Readable.from([b.subarray(0, 10), b.subarray(10)]);
const data = Buffer.from('a layer of a container image, streamed');

describe('a streamed upload: what each answer to its PATCH means', () => {
  const refused = (status: number, code?: string): Answer => ({
    status,
    ...(code ? { body: errors(code) } : {}),
  });
  it.each<[string, 'stored' | 'STREAM_REFUSED' | 'failed', Answer | undefined]>([
    ['202 Accepted (distribution)', 'stored', undefined],
    ['201 Created (ECR)', 'stored', { status: 201, headers: { Location: '/v2/a/blobs/uploads/s1' } }],
    ['400 BLOB_UPLOAD_INVALID (no chunked bodies)', 'STREAM_REFUSED', refused(400, 'BLOB_UPLOAD_INVALID')],
    ['411 Length Required (GAR)', 'STREAM_REFUSED', refused(411)],
    ['405 Method Not Allowed (monolithic only)', 'STREAM_REFUSED', refused(405, 'UNSUPPORTED')],
    ['416 Range Not Satisfiable (GHCR over 4 MiB)', 'STREAM_REFUSED', refused(416)],
    ['403 DENIED', 'failed', refused(403, 'DENIED')],
    ['500 Internal Server Error', 'failed', refused(500)],
  ])('%s: the blob is %s', async (_name, outcome, patchAnswer) => {
    if (patchAnswer)
      override = (method) => {
        if (method !== 'PATCH') return undefined;
        // Accept the bytes as a registry would, then answer as this one does.
        if (ok(patchAnswer.status)) sessions.set('s1', data);
        return patchAnswer;
      };
    const c = client();
    const err = await c
      .uploadStream('a', stream(data), Promise.resolve(digestOf(data)))
      .catch((e: unknown) => e);
    expect(requests('PATCH')).toHaveLength(1);
    if (outcome === 'stored') {
      expect(err).toBeUndefined();
      expect(blobs.get('a')?.get(digestOf(data))).toEqual(data);
      // The closing PUT carries no bytes: nothing was sent twice.
      expect(requests('PUT').map((s) => s.bytes)).toEqual([0]);
    } else {
      expect(err).toBeInstanceOf(RegistryError);
      expect(isStreamRefusal(err)).toBe(outcome === 'STREAM_REFUSED');
      expect(c.streams).toBe(outcome !== 'STREAM_REFUSED');
    }
    c.close();
  });

  it('after a refusal the registry gets no other PATCH: a stream waiting on the first answer is refused unsent', async () => {
    override = (method) => (method === 'PATCH' ? { status: 405, body: errors('UNSUPPORTED') } : undefined);
    const c = client();
    const other = Buffer.from('another layer');
    const results = await Promise.all([
      c.uploadStream('a', stream(data), Promise.resolve(digestOf(data))).catch((e: unknown) => e),
      c.uploadStream('a', stream(other), Promise.resolve(digestOf(other))).catch((e: unknown) => e),
    ]);
    expect(results.map(isStreamRefusal)).toEqual([true, true]);
    expect(requests('PATCH')).toHaveLength(1);
    // Both sessions are given back, and the blob then goes up with its length.
    await new Promise((r) => setTimeout(r, 20));
    expect(requests('DELETE')).toHaveLength(2);
    await c.uploadBlob('a', digestOf(data), data.length, () => stream(data));
    expect(requests('PUT').at(-1)).toMatchObject({ chunked: false, bytes: data.length });
    c.close();
  });
});

const ok = (s: number) => s >= 200 && s < 300;

describe('a mount: what each answer means', () => {
  const d = digestOf(data);
  it.each<[string, Answer | 'held' | undefined, 'mounted' | 'uploaded', number]>([
    ['201: mounted, nothing sent', 'held', 'mounted', 1],
    ['202 + Location (Nexus, ECR): uploaded into that session, no second POST', undefined, 'uploaded', 1],
    [
      '401 (Harbor, source project missing): a plain upload',
      { status: 401, body: errors('UNAUTHORIZED') },
      'uploaded',
      2,
    ],
    [
      '403 (a source the user may not read): a plain upload',
      { status: 403, body: errors('DENIED') },
      'uploaded',
      2,
    ],
    [
      '404 (GitLab across projects): a plain upload',
      { status: 404, body: errors('NAME_UNKNOWN') },
      'uploaded',
      2,
    ],
  ])('%s', async (_name, answer, outcome, posts) => {
    if (answer === 'held') store('base', d, data);
    else if (answer)
      override = (method, path) => (method === 'POST' && path.includes('mount=') ? answer : undefined);
    const c = client();
    expect(await c.mountOrUpload('app', d, 'base', data.length, () => stream(data))).toBe(outcome);
    expect(blobs.get('app')?.get(d)).toEqual(data);
    expect(requests('POST')).toHaveLength(posts);
    expect(requests('DELETE')).toEqual([]);
    if (outcome === 'uploaded') expect(requests('PUT')).toHaveLength(1);
    c.close();
  });

  it('a source refused once is not asked to mount again in this run', async () => {
    override = (method, path) =>
      method === 'POST' && path.includes('mount=')
        ? { status: 401, body: errors('UNAUTHORIZED') }
        : undefined;
    const c = client();
    const other = Buffer.from('another layer');
    await c.mountOrUpload('app', digestOf(data), 'base', data.length, () => stream(data));
    await c.mountOrUpload('app', digestOf(other), 'base', other.length, () => stream(other));
    expect(requests('POST', /mount=/)).toHaveLength(1);
    expect(blobs.get('app')?.size).toBe(2);
    c.close();
  });

  it('a 500 on the mount is retried, then fails: it is the registry failing, not the mount refused', async () => {
    override = (method, path) => (method === 'POST' && path.includes('mount=') ? { status: 500 } : undefined);
    const c = client();
    await expect(c.mountBlob('app', digestOf(data), 'base')).rejects.toMatchObject({ status: 500 });
    expect(requests('POST', /mount=/)).toHaveLength(3);
    c.close();
  });
});

describe('blob reads redirected to storage', () => {
  it.each<[string, number, 'read' | 403, number]>([
    ['an expired URL (403) is asked for again, once', 1, 'read', 2],
    ['a URL refused every time fails after asking twice', 99, 403, 2],
  ])('%s', async (_name, refusals, outcome, registryGets) => {
    store('a', digestOf(data), data);
    let left = refusals;
    override = (_method, path) =>
      path.startsWith('/storage/') && left-- > 0
        ? {
            status: 403,
            body: '<Error><Code>AccessDenied</Code><Message>Request has expired</Message></Error>',
          }
        : undefined;
    const c = client();
    const got = await c
      .getBlob('a', digestOf(data))
      .then(async (s) => Buffer.concat(await s.toArray()).toString())
      .catch((e: unknown) => e);
    if (outcome === 'read') expect(got).toBe('stored bytes');
    else {
      expect(got).toMatchObject({ status: 403 });
      // Storage refusing a URL says nothing about the user's rights on the repository.
      expect(got).not.toBeInstanceOf(AccessDeniedError);
    }
    expect(requests('GET', /^\/v2\//)).toHaveLength(registryGets);
    // Storage never sees our credentials (S3 refuses a second auth mechanism).
    expect(requests('GET', /^\/storage\//).every((s) => !s.auth)).toBe(true);
    c.close();
  });
});

describe('manifest reads', () => {
  const limited: Override = (method, path) =>
    method === 'GET' && path.includes('/manifests/')
      ? { status: 429, headers: { 'Retry-After': '0' }, body: errors('TOOMANYREQUESTS') }
      : undefined;

  it.each<[string, 'wait' | 'fail', number]>([
    ['a rate-limited GET that only spares work fails at once', 'fail', 1],
    ['a rate-limited GET the push needs waits and tries again', 'wait', 3],
  ])('%s', async (_name, rateLimited, gets) => {
    override = limited;
    const c = client();
    await expect(c.getManifest('a', 'one', { rateLimited })).rejects.toMatchObject({ status: 429 });
    expect(requests('GET')).toHaveLength(gets);
    c.close();
  });

  it('HEAD answers without counting against a pull limit; a registry without Docker-Content-Digest is asked with a GET and hashed', async () => {
    override = limited;
    const c = client();
    expect(await c.headManifest('a', 'one')).toMatchObject({ digest: digestOf(manifest) });
    expect(requests('GET')).toHaveLength(0);
    override = (_method, path) =>
      path.includes('/manifests/')
        ? {
            status: 200,
            headers: { 'Content-Type': 'application/vnd.oci.image.manifest.v1+json' },
            body: manifest.toString(),
          }
        : undefined;
    const head = await c.headManifest('a', 'one');
    expect(head).toMatchObject({ digest: digestOf(manifest), size: manifest.length, body: manifest });
    c.close();
  });

  it('a manifest over 4 MiB is refused before it is sent', async () => {
    const c = client();
    const big = Buffer.alloc(4 * 1024 * 1024 + 1, 32);
    await expect(
      c.putManifest('a', 'one', big, 'application/vnd.oci.image.manifest.v1+json'),
    ).rejects.toMatchObject({
      code: 'MANIFEST_TOO_LARGE',
    });
    expect(seen).toEqual([]);
    c.close();
  });
});

describe('isMediaTypeRefusal', () => {
  const err = (status: number, code: string, message = 'manifest invalid') =>
    new RegistryError(message, { registry: 'r', status, code, retryable: false });
  it.each<[string, unknown, boolean]>([
    ['415 (zot)', err(415, 'MANIFEST_INVALID'), true],
    [
      '400 MANIFEST_INVALID naming the media type',
      err(400, 'MANIFEST_INVALID', 'unsupported mediaType'),
      true,
    ],
    ['400 MANIFEST_INVALID for anything else', err(400, 'MANIFEST_INVALID', 'manifest blob unknown'), false],
    ['404', err(404, 'NAME_UNKNOWN'), false],
    ['not a registry error', new Error('415'), false],
  ])('%s', (_name, e, expected) => {
    expect(isMediaTypeRefusal(e)).toBe(expected);
  });
});
