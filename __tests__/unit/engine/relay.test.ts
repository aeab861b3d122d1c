import { afterEach, describe, expect, it } from '@jest/globals';
import { createHash } from 'node:crypto';
import { readdirSync, rmSync } from 'node:fs';
import type { Readable } from 'node:stream';
import { setTimeout as sleep } from 'node:timers/promises';
import type { RegistryClient } from '../../../src/registry/client.js';
import type { Task } from '../../../src/engine/progress.js';
import { PushRelay, type RelayOptions, type RelayTarget } from '../../../src/engine/relay.js';
import { RegistryError } from '../../../src/registry/retry.js';
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
  /** Every upload is refused with this. */
  refuse?: Error;
  /** The streamed upload starts reading its body only after this long (a slow POST). */
  slowStartMs = 0;
  /** As the client says: false once the registry refused a streamed upload. */
  streams = true;
  /** Streamed uploads are refused as a method (STREAM_REFUSED), as a registry that takes no PATCH. */
  refuseStreams = false;
  streamCalls = 0;
  uploadCalls = 0;

  constructor(readonly registry: string) {}

  client(): RegistryClient {
    return this as unknown as RegistryClient;
  }

  put(repo: string, digest: string, data: Buffer): void {
    if (!this.blobs.has(repo)) this.blobs.set(repo, new Map());
    this.blobs.get(repo)!.set(digest, data);
  }

  async uploadStream(repo: string, body: Readable, digest: Promise<string>): Promise<void> {
    this.streamCalls++;
    if (this.slowStartMs) await sleep(this.slowStartMs);
    if (this.refuseStreams) {
      this.streams = false;
      throw new RegistryError('registry y.example: streamed upload refused (PATCH answered 405)', {
        registry: this.registry,
        code: 'STREAM_REFUSED',
        retryable: false,
      });
    }
    if (this.refuse) throw this.refuse;
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
    this.uploadCalls++;
    if (this.refuse) throw this.refuse;
    const parts: Buffer[] = [];
    for await (const chunk of open() as AsyncIterable<Buffer>) parts.push(chunk);
    this.resent.push(`${repo}@${digest}`);
    this.put(repo, digest, Buffer.concat(parts));
  }

  async mountOrUpload(
    repo: string,
    digest: string,
    from: string,
    size: number,
    open: () => Readable,
  ): Promise<'mounted' | 'uploaded'> {
    const data = this.blobs.get(from)?.get(digest);
    if (!data) {
      await this.uploadBlob(repo, digest, size, open);
      return 'uploaded';
    }
    this.mounted.push(`${repo}@${digest}<-${from}`);
    this.put(repo, digest, data);
    return 'mounted';
  }
}

const digestOf = (b: Buffer) => `sha256:${createHash('sha256').update(b).digest('hex')}`;

/** `data` in two pieces, `gapMs` apart. */
async function* slowly(data: Buffer, gapMs = 0): AsyncGenerator<Buffer> {
  const half = Math.floor(data.length / 2);
  yield data.subarray(0, half);
  if (gapMs) await sleep(gapMs);
  yield data.subarray(half);
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
  progress?: RelayOptions['progress'],
): Promise<{ relay: PushRelay; lines: Lines }> {
  const lines: Lines = { info: [], debug: [] };
  const log = {
    info: (m: string) => lines.info.push(m),
    debug: (m: string) => lines.debug.push(m),
    warning: (m: string) => lines.info.push(m),
  };
  relay = await PushRelay.start({ targets, tmpDir: tempDir('relay-test'), log, progress });
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
    const d = digestOf(layer);
    expect(await relay.ingest(slowly(layer))).toEqual({ digest: d, size: layer.length });

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
    await relay.ingest(slowly(layer));
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

  it.each([
    { name: 'a stream that broke', breakAfter: 1000 as number | undefined, tasks: 1 },
    { name: 'a stream that went through', breakAfter: undefined, tasks: 0 },
  ])(
    'counts what is sent again from the spool on a task of its own: $name',
    async ({ breakAfter, tasks }) => {
      const x = new FakeRegistry('x.example');
      const y = new FakeRegistry('y.example');
      y.breakStreamAfter = breakAfter;
      const { relay } = await startRelay(
        [
          { client: x.client(), repo: 'a' },
          { client: y.client(), repo: 'a' },
        ],
        { tickMs: 0 },
      );
      const made: Task[] = [];
      const task = relay.progress.task.bind(relay.progress);
      relay.progress.task = (label: string) => {
        const t = task(label);
        made.push(t);
        return t;
      };
      const layer = Buffer.from(Array.from({ length: 50_000 }, (_, i) => i % 251));
      await relay.ingest(slowly(layer));
      await relay.settle();
      const d = digestOf(layer);
      const seen = made.map((t) => ({
        label: t.label,
        finished: t.finished,
        counters: t.counters.map((c) => [c.name, c.done, c.total]),
      }));
      expect(seen).toEqual(
        Array.from({ length: tasks }, () => ({
          label: `Blob ${d.slice(7, 19)} from the spool`,
          finished: true,
          counters: [['to y.example/a', layer.length, layer.length]],
        })),
      );
    },
  );

  it.each([
    [403, 'DENIED', false],
    [401, 'UNAUTHORIZED', false],
    [413, 'SIZE_INVALID', true],
  ])('a streamed upload answered %i (%s): sent again from the spool: %s', async (status, code, resent) => {
    const x = new FakeRegistry('x.example');
    const y = new FakeRegistry('y.example');
    const refusal = new RegistryError(`registry y.example: POST blob upload a answered ${status}`, {
      registry: 'y.example',
      status,
      code,
      retryable: false,
      reason: String(status),
    });
    y.refuse = refusal;
    const targets = [
      { client: x.client(), repo: 'a' },
      { client: y.client(), repo: 'a' },
      { client: y.client(), repo: 'b' },
    ];
    const { relay, lines } = await startRelay(targets);
    await relay.ingest(slowly(Buffer.alloc(10_000, 5)));
    const failures = await relay.settle();
    expect(failures.get(targets[0]!)).toBeUndefined();
    // The fake refuses the resend too: either way y's targets end up failed, with the refusal.
    expect(failures.get(targets[1]!)).toBe(refusal);
    expect(failures.has(targets[2]!)).toBe(true);
    expect(lines.info.some((l) => l.includes('sending it again'))).toBe(resent);
  });

  it('a registry that refuses streamed uploads is streamed to once; every blob goes from the spool, without a resend line', async () => {
    const x = new FakeRegistry('x.example');
    const y = new FakeRegistry('y.example');
    y.refuseStreams = true;
    const targets = [
      { client: x.client(), repo: 'a' },
      { client: y.client(), repo: 'a' },
      { client: y.client(), repo: 'b' },
    ];
    const { relay, lines } = await startRelay(targets);
    const blobs = [Buffer.alloc(20_000, 1), Buffer.alloc(30_000, 2), Buffer.alloc(10, 3)];
    for (const b of blobs) {
      await relay.ingest(slowly(b));
      await sleep(5); // the refusal of the first stream is known before the next blob opens
    }
    expect([...(await relay.settle())]).toEqual([]);
    expect(y.streamCalls).toBe(1);
    expect(y.resent).toEqual(blobs.map((b) => `a@${digestOf(b)}`));
    expect(y.mounted).toEqual(blobs.map((b) => `b@${digestOf(b)}<-a`));
    expect(x.streamed).toHaveLength(3);
    expect(lines.info.filter((l) => l.includes('sending it again'))).toEqual([]);
  });

  it('a target refused outright (404 NAME_UNKNOWN) is neither streamed to nor sent anything after that', async () => {
    const x = new FakeRegistry('x.example');
    x.refuse = new RegistryError(
      'registry x.example: POST blob upload a answered 404 Not Found: NAME_UNKNOWN',
      {
        registry: 'x.example',
        status: 404,
        code: 'NAME_UNKNOWN',
        retryable: false,
      },
    );
    const target = { client: x.client(), repo: 'a' };
    const { relay } = await startRelay([target]);
    await relay.ingest(slowly(Buffer.alloc(1000, 1)));
    await sleep(5);
    await relay.ingest(slowly(Buffer.alloc(1000, 2)));
    const failures = await relay.settle();
    expect(failures.get(target)).toBe(x.refuse);
    expect(x.streamCalls).toBe(1);
    expect(x.uploadCalls).toBe(0);
  });

  it('fails, rather than hangs, when the spool file cannot be written', async () => {
    const x = new FakeRegistry('x.example');
    const dir = tempDir('relay-gone');
    const log = { info: () => {}, debug: () => {}, warning: () => {} };
    relay = await PushRelay.start({ targets: [{ client: x.client(), repo: 'a' }], tmpDir: dir, log });
    rmSync(dir, { recursive: true, force: true });
    await expect(relay.ingest(slowly(Buffer.alloc(3 * 1024 * 1024, 1)))).rejects.toThrow(/ENOENT/);
  });

  it('abandons a blob whose source fails before the uploads read anything, without crashing', async () => {
    const x = new FakeRegistry('x.example');
    x.slowStartMs = 100;
    const { relay } = await startRelay([{ client: x.client(), repo: 'a' }]);
    async function* broken(): AsyncGenerator<Buffer> {
      yield Buffer.alloc(1000, 1);
      throw new Error('docker save died early');
    }
    await expect(relay.ingest(broken())).rejects.toThrow('docker save died early');
    await sleep(150); // an 'error' with no listener would have crashed the process by now
    await relay.settle();
    expect(x.streamed).toEqual([]);
  });

  it('abandons a blob whose source fails, and delivers nothing', async () => {
    const x = new FakeRegistry('x.example');
    const { relay } = await startRelay([{ client: x.client(), repo: 'a' }]);
    async function* broken(): AsyncGenerator<Buffer> {
      yield Buffer.alloc(1000, 1);
      throw new Error('docker save died');
    }
    await expect(relay.ingest(broken())).rejects.toThrow('docker save died');
    await relay.settle();
    expect(x.streamed).toEqual([]);
    expect(x.blobs.size).toBe(0);
  });

  it('counts the bytes handed to each registry on the blob task, and leaves no spool file', async () => {
    const x = new FakeRegistry('x.example');
    const y = new FakeRegistry('y.example');
    const dir = tempDir('relay-spool');
    let now = 0;
    const lines: string[] = [];
    const log = { info: (m: string) => lines.push(m), debug: () => {}, warning: () => {} };
    relay = await PushRelay.start({
      targets: [
        { client: x.client(), repo: 'a' },
        { client: y.client(), repo: 'a' },
      ],
      tmpDir: dir,
      log,
      progress: { now: () => now, tickMs: 0 },
    });
    const task = relay.progress.task('Layer 1');
    const layer = Buffer.alloc(3 * 1024 * 1024, 3);
    const body = (async function* () {
      yield layer.subarray(0, 1024 * 1024);
      now += 6_000; // six seconds for the first MiB
      await sleep(20);
      relay!.progress.tick();
      yield layer.subarray(1024 * 1024);
    })();
    await relay.ingest(body, task);
    expect(task.counters.map((c) => [c.name, c.done, c.total, c.growing])).toEqual([
      ['to x.example', layer.length, layer.length, false],
      ['to y.example', layer.length, layer.length, false],
    ]);
    // While it ran: one line, with each registry's bytes of what was compressed so far.
    expect(lines).toEqual([
      'Layer 1: to x.example 1.0 of 1.0 MiB so far (0.2 MiB/s); to y.example 1.0 of 1.0 MiB so far (0.2 MiB/s)',
    ]);
    await relay.settle();
    await relay.close();
    relay = undefined;
    expect(readdirSync(dir)).toEqual([]);
  });

  it('closes with one line per registry: sent, mounted, already there, how long', async () => {
    const x = new FakeRegistry('x.example');
    const y = new FakeRegistry('y.example');
    const { relay, lines } = await startRelay([
      { client: x.client(), repo: 'a' },
      { client: x.client(), repo: 'b' },
      { client: y.client(), repo: 'a' },
    ]);
    await relay.ingest(slowly(Buffer.alloc(2 * 1024 * 1024, 1)));
    await relay.ingest(slowly(Buffer.from('config')));
    relay.held();
    await relay.settle();
    expect(lines.info).toEqual([
      expect.stringMatching(
        /^x\.example: 2 blobs sent \(2\.0 MiB\) to a, 2 mounted into b, 1 already there, in \d+\.\d s$/,
      ),
      expect.stringMatching(/^y\.example: 2 blobs sent \(2\.0 MiB\) to a, 1 already there, in \d+\.\d s$/),
    ]);
  });

  it('names the repositories a registry refused on its closing line', async () => {
    const x = new FakeRegistry('x.example');
    x.refuse = new RegistryError('denied', { registry: 'x.example', status: 403, retryable: false });
    const { relay, lines } = await startRelay([{ client: x.client(), repo: 'a' }]);
    await relay.ingest(slowly(Buffer.from('layer')));
    await relay.settle();
    expect(lines.info).toEqual([
      expect.stringMatching(
        /^x\.example: 0 blobs sent \(0\.0 MiB\) to a, 0 already there, failed for a, in /,
      ),
    ]);
  });
});
