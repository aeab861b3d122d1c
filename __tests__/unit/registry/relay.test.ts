import { afterEach, describe, expect, it } from '@jest/globals';
import { createHash } from 'node:crypto';
import { readdirSync } from 'node:fs';
import { request } from 'node:http';
import type { Readable } from 'node:stream';
import { setTimeout as sleep } from 'node:timers/promises';
import { daemonIsLocal } from '../../../src/push.js';
import type { RegistryClient } from '../../../src/registry/client.js';
import { PushRelay, type RelayTarget } from '../../../src/registry/relay.js';
import { tempDir } from '../../helpers/tmp.js';

/** A registry client that keeps in memory what it was sent, and can be told to fail. */
class FakeRegistry {
  /** repo -> digest -> bytes */
  readonly blobs = new Map<string, Map<string, Buffer>>();
  readonly streamed: string[] = [];
  readonly resent: string[] = [];
  readonly mounted: string[] = [];
  /** Streams fail after this many bytes (once each time it is set). */
  breakStreamAfter?: number;

  constructor(readonly registry: string) {}

  client(): RegistryClient {
    return this as unknown as RegistryClient;
  }

  put(repo: string, digest: string, data: Buffer): void {
    if (!this.blobs.has(repo)) this.blobs.set(repo, new Map());
    this.blobs.get(repo)!.set(digest, data);
  }

  async statBlob(repo: string, digest: string): Promise<number | undefined> {
    return this.blobs.get(repo)?.get(digest)?.length;
  }

  async uploadStream(repo: string, body: Readable, digest: Promise<string>): Promise<void> {
    const parts: Buffer[] = [];
    let n = 0;
    for await (const chunk of body as AsyncIterable<Buffer>) {
      n += chunk.length;
      if (this.breakStreamAfter !== undefined && n > this.breakStreamAfter) {
        this.breakStreamAfter = undefined;
        throw new Error('ECONNRESET');
      }
      parts.push(chunk);
    }
    const d = await digest;
    this.streamed.push(`${repo}@${d}`);
    this.put(repo, d, Buffer.concat(parts));
  }

  async uploadBlob(repo: string, digest: string, _size: number, open: () => Readable): Promise<void> {
    const parts: Buffer[] = [];
    for await (const chunk of open() as AsyncIterable<Buffer>) parts.push(chunk);
    this.resent.push(`${repo}@${digest}`);
    this.put(repo, digest, Buffer.concat(parts));
  }

  async mountBlob(repo: string, digest: string, from: string): Promise<boolean> {
    const data = this.blobs.get(from)?.get(digest);
    if (!data) return false;
    this.mounted.push(`${repo}@${digest}<-${from}`);
    this.put(repo, digest, data);
    return true;
  }
}

interface Reply {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  body: string;
}

/** One request to the relay; a body given as parts is sent in chunks, `gapMs` apart. */
function send(
  relay: PushRelay,
  method: string,
  path: string,
  parts: Buffer[] = [],
  gapMs = 0,
): Promise<Reply> {
  return new Promise((resolve, reject) => {
    const [host, port] = relay.host.split(':');
    const req = request({ host, port: Number(port), method, path }, (res) => {
      const got: Buffer[] = [];
      res.on('data', (c: Buffer) => got.push(c));
      res.on('end', () =>
        resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(got).toString() }),
      );
    });
    req.on('error', reject);
    void (async () => {
      for (const p of parts) {
        req.write(p);
        if (gapMs) await sleep(gapMs);
      }
      req.end();
    })();
  });
}

const digestOf = (b: Buffer) => `sha256:${createHash('sha256').update(b).digest('hex')}`;

/** What the docker daemon does for one blob: POST, PATCH (in parts), PUT ?digest=. */
async function pushBlob(
  relay: PushRelay,
  repo: string,
  data: Buffer,
  opts: { claim?: string; gapMs?: number } = {},
) {
  const started = await send(relay, 'POST', `/v2/${repo}/blobs/uploads/`);
  expect(started.status).toBe(202);
  const location = String(started.headers.location);
  const half = Math.floor(data.length / 2);
  const patched = await send(
    relay,
    'PATCH',
    location,
    [data.subarray(0, half), data.subarray(half)],
    opts.gapMs,
  );
  expect(patched.status).toBe(202);
  return send(relay, 'PUT', `${location}?digest=${opts.claim ?? digestOf(data)}`);
}

interface Lines {
  info: string[];
  debug: string[];
}

let relay: PushRelay | undefined;
afterEach(async () => {
  await relay?.close();
  relay = undefined;
});

async function startRelay(
  targets: RelayTarget[],
  progressMs?: number,
): Promise<{ relay: PushRelay; lines: Lines }> {
  const lines: Lines = { info: [], debug: [] };
  const log = {
    info: (m: string) => lines.info.push(m),
    debug: (m: string) => lines.debug.push(m),
    warning: (m: string) => lines.info.push(m),
  };
  relay = await PushRelay.start({ targets, tmpDir: tempDir('relay-test'), log, progressMs });
  return { relay, lines };
}

describe('PushRelay', () => {
  it('streams each blob to the first repository of every registry and mounts it into the others', async () => {
    const x = new FakeRegistry('x.example');
    const y = new FakeRegistry('y.example');
    const targets = [
      { client: x.client(), repo: 'a' },
      { client: x.client(), repo: 'b' },
      { client: y.client(), repo: 'a' },
    ];
    const { relay } = await startRelay(targets);
    const layer = Buffer.alloc(200_000, 7);
    const put = await pushBlob(relay, 'a', layer);
    expect(put.status).toBe(201);
    expect(put.headers['docker-content-digest']).toBe(digestOf(layer));
    const d = digestOf(layer);

    const manifest = Buffer.from('{"schemaVersion":2}');
    const m = await send(relay, 'PUT', '/v2/a/manifests/latest', [manifest]);
    expect(m.status).toBe(201);
    expect(await relay.manifestArrived).toMatchObject({ digest: digestOf(manifest) });

    expect([...(await relay.settle())]).toEqual([]);
    expect(x.streamed).toEqual([`a@${d}`]);
    expect(y.streamed).toEqual([`a@${d}`]);
    expect(x.mounted).toEqual([`b@${d}<-a`]);
    for (const [reg, repo] of [
      [x, 'a'],
      [x, 'b'],
      [y, 'a'],
    ] as const)
      expect(reg.blobs.get(repo)?.get(d)?.equals(layer)).toBe(true);
  });

  it('sends a blob again from its spool file when the live stream to a registry breaks', async () => {
    const x = new FakeRegistry('x.example');
    const y = new FakeRegistry('y.example');
    y.breakStreamAfter = 1000;
    const { relay, lines } = await startRelay([
      { client: x.client(), repo: 'a' },
      { client: y.client(), repo: 'a' },
    ]);
    const layer = Buffer.from(Array.from({ length: 50_000 }, (_, i) => i % 251));
    expect((await pushBlob(relay, 'a', layer)).status).toBe(201);
    expect([...(await relay.settle())]).toEqual([]);
    const d = digestOf(layer);
    expect(y.streamed).toEqual([]);
    expect(y.resent).toEqual([`a@${d}`]);
    expect(y.blobs.get('a')?.get(d)?.equals(layer)).toBe(true);
    expect(x.resent).toEqual([]);
    expect(lines.info.filter((l) => l.includes('sending it again'))).toEqual([
      `y.example/a: streaming ${d} failed (ECONNRESET); sending it again`,
    ]);
  });

  it('refuses a blob whose bytes do not match the digest the daemon claims, and delivers nothing', async () => {
    const x = new FakeRegistry('x.example');
    const { relay } = await startRelay([{ client: x.client(), repo: 'a' }]);
    const wrong = digestOf(Buffer.from('something else'));
    const put = await pushBlob(relay, 'a', Buffer.alloc(1000, 1), { claim: wrong });
    expect(put.status).toBe(400);
    expect(put.body).toContain('DIGEST_INVALID');
    await relay.settle();
    expect(x.streamed).toEqual([]);
    expect(x.blobs.size).toBe(0);
  });

  it.each([
    ['every registry has it', ['a', 'b'], 200],
    ['one registry lacks it', ['a'], 404],
    ['no registry has it', [], 404],
  ])('answers HEAD of a blob with %s: %s', async (_name, holders, status) => {
    const x = new FakeRegistry('x.example');
    const y = new FakeRegistry('y.example');
    const data = Buffer.from('layer');
    const d = digestOf(data);
    if (holders.includes('a')) x.put('a', d, data);
    if (holders.includes('b')) y.put('a', d, data);
    const { relay } = await startRelay([
      { client: x.client(), repo: 'a' },
      { client: y.client(), repo: 'a' },
    ]);
    const res = await send(relay, 'HEAD', `/v2/a/blobs/${d}`);
    expect(res.status).toBe(status);
    if (status === 200) expect(res.headers['content-length']).toBe(String(data.length));
  });

  it.each([
    ['GET', '/v2/a/manifests/latest'],
    ['GET', '/v2/_catalog'],
    ['PATCH', '/v2/a/blobs/uploads/00000000-0000-0000-0000-000000000000'],
  ])('answers %s %s with 404: it only takes pushes', async (method, path) => {
    const { relay } = await startRelay([{ client: new FakeRegistry('x').client(), repo: 'a' }]);
    expect((await send(relay, method, path)).status).toBe(404);
  });

  it('logs the bytes sent to each registry while a slow upload runs, and leaves no spool file', async () => {
    const x = new FakeRegistry('x.example');
    const dir = tempDir('relay-spool');
    const lines: string[] = [];
    const log = { info: (m: string) => lines.push(m), debug: () => {}, warning: () => {} };
    relay = await PushRelay.start({
      targets: [{ client: x.client(), repo: 'a' }],
      tmpDir: dir,
      log,
      progressMs: 20,
    });
    const layer = Buffer.alloc(3 * 1024 * 1024, 3);
    expect((await pushBlob(relay, 'a', layer, { gapMs: 120 })).status).toBe(201);
    await relay.settle();
    expect(lines.some((l) => /^x\.example: 1\.5 MiB sent$/.test(l))).toBe(true);
    await relay.close();
    relay = undefined;
    expect(readdirSync(dir)).toEqual([]);
  });
});

describe('daemonIsLocal', () => {
  it.each([
    [undefined, true],
    ['', true],
    ['unix:///var/run/docker.sock', true],
    ['npipe:////./pipe/docker_engine', true],
    ['tcp://10.0.0.5:2376', false],
    ['ssh://builder@host', false],
  ])('DOCKER_HOST=%s: %s', (host, local) => {
    expect(daemonIsLocal(host === undefined ? {} : { DOCKER_HOST: host })).toBe(local);
  });
});
