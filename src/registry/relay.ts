/**
 * A registry on 127.0.0.1 that the local daemon pushes to once. Each blob it uploads is
 * streamed to every target registry at the same time, and spooled to a temporary file so a
 * target that fails mid-stream is retried from disk. The manifest it PUTs is kept for the
 * caller to tag everywhere. The daemon compresses each layer once, however many registries
 * there are, and still skips the layers every registry already has.
 */
import { createHash, randomUUID, type Hash } from 'node:crypto';
import { createReadStream, createWriteStream, type WriteStream } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { PassThrough } from 'node:stream';
import { finished } from 'node:stream/promises';
import { messageOf } from '../errors.js';
import type { Logger } from '../log.js';
import { readAll, sha256Digest, type Manifest, type RegistryClient } from './client.js';

export interface RelayTarget {
  client: RegistryClient;
  repo: string;
}

export interface RelayOptions {
  targets: RelayTarget[];
  /** Where blobs are spooled while they stream (one file per blob, removed when done). */
  tmpDir: string;
  log: Logger;
  /** How often progress is logged while bytes flow (default 10 s). */
  progressMs?: number;
}

/** Bytes streamed to each registry, for progress lines. */
interface Group {
  registry: string;
  /** The repository blobs stream to; the others on this registry mount from it. */
  primary: RelayTarget;
  others: RelayTarget[];
  sent: number;
}

interface Sink {
  group: Group;
  body: PassThrough;
  done: Promise<void>;
  failed?: unknown;
}

interface Session {
  id: string;
  file: string;
  spool: WriteStream;
  hash: Hash;
  size: number;
  sinks: Sink[];
  /** Resolves with the verified digest when the daemon commits; rejects when it gives up. */
  digest: Promise<string>;
  settleDigest: (digest: string) => void;
  abandon: (reason: Error) => void;
}

const MAX_MANIFEST_BYTES = 4 * 1024 * 1024;
const MiB = 1024 * 1024;

function reply(res: ServerResponse, status: number, headers: Record<string, string> = {}, body = ''): void {
  res.writeHead(status, { 'Docker-Distribution-Api-Version': 'registry/2.0', ...headers });
  res.end(body);
}

function fail(res: ServerResponse, status: number, code: string, message: string): void {
  reply(res, status, { 'Content-Type': 'application/json' }, JSON.stringify({ errors: [{ code, message }] }));
}

const mib = (n: number) => `${(n / MiB).toFixed(1)} MiB`;

export class PushRelay {
  /** `127.0.0.1:port`, the registry part of the name the daemon pushes to. */
  readonly host: string;
  /** Requests the daemon made: 0 after a failed push means it could not reach us. */
  requests = 0;
  /** The image manifest the daemon PUT last. */
  manifest: Manifest | undefined;
  /** Resolves when the daemon PUTs a manifest: its push is then complete, whatever its CLI still prints. */
  readonly manifestArrived: Promise<Manifest>;
  private manifestReceived!: (m: Manifest) => void;

  private readonly groups: Group[];
  private readonly sessions = new Map<string, Session>();
  /** Blobs every target holds (or will once `settle` resolves), with their sizes. */
  private readonly blobs = new Map<string, number>();
  private readonly jobs: Promise<void>[] = [];
  private readonly failures = new Map<RelayTarget, unknown>();
  private readonly progress: NodeJS.Timeout;
  private lastSent = new Map<Group, number>();

  private constructor(
    private readonly server: Server,
    private readonly dir: string,
    private readonly opts: RelayOptions,
  ) {
    this.host = `127.0.0.1:${(server.address() as AddressInfo).port}`;
    this.manifestArrived = new Promise((resolve) => (this.manifestReceived = resolve));
    const byRegistry = new Map<string, Group>();
    for (const t of opts.targets) {
      const g = byRegistry.get(t.client.registry);
      if (g) g.others.push(t);
      else
        byRegistry.set(t.client.registry, { registry: t.client.registry, primary: t, others: [], sent: 0 });
    }
    this.groups = [...byRegistry.values()];
    this.progress = setInterval(() => this.logProgress(), opts.progressMs ?? 10_000);
    this.progress.unref();
  }

  static async start(opts: RelayOptions): Promise<PushRelay> {
    const dir = await mkdtemp(join(opts.tmpDir, 'relay-'));
    const server = createServer();
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(0, '127.0.0.1', () => resolve());
    });
    const relay = new PushRelay(server, dir, opts);
    server.on('request', (req: IncomingMessage, res: ServerResponse) => {
      relay.requests++;
      opts.log.debug(`relay: ${req.method} ${req.url}`);
      relay.handle(req, res).catch((err: unknown) => {
        opts.log.debug(`relay: ${req.method} ${req.url}: ${(err as Error).message}`);
        if (!res.headersSent) fail(res, 500, 'UNKNOWN', (err as Error).message);
        else res.destroy();
      });
    });
    return relay;
  }

  /**
   * Waits for every blob to reach every target (retries included) and returns, per target,
   * the error that kept a blob from it. A target with no entry holds every blob.
   */
  async settle(): Promise<Map<RelayTarget, unknown>> {
    await Promise.all(this.jobs);
    return this.failures;
  }

  async close(): Promise<void> {
    clearInterval(this.progress);
    for (const s of this.sessions.values()) this.abort(s, new Error('the push was abandoned'));
    this.server.closeAllConnections();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
    await Promise.allSettled(this.jobs);
    await rm(this.dir, { recursive: true, force: true });
  }

  private logProgress(): void {
    for (const g of this.groups) {
      if (g.sent === (this.lastSent.get(g) ?? 0)) continue;
      this.lastSent.set(g, g.sent);
      this.opts.log.info(`${g.registry}: ${mib(g.sent)} sent`);
    }
  }

  private async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const url = new URL(req.url ?? '/', 'http://relay');
    const path = url.pathname;
    const method = req.method ?? 'GET';
    if (path === '/v2/' || path === '/v2')
      return reply(res, 200, { 'Content-Type': 'application/json' }, '{}');
    let m = /^\/v2\/(.+)\/blobs\/uploads\/?$/.exec(path);
    if (m && method === 'POST') return this.startSession(m[1]!, res);
    m = /^\/v2\/(.+)\/blobs\/uploads\/([0-9a-f-]+)$/.exec(path);
    if (m) {
      const session = this.sessions.get(m[2]!);
      if (!session) return fail(res, 404, 'BLOB_UPLOAD_UNKNOWN', 'no such upload');
      const location = `/v2/${m[1]}/blobs/uploads/${session.id}`;
      if (method === 'PATCH') {
        await this.feed(session, req);
        return reply(res, 202, {
          Location: location,
          Range: `0-${Math.max(0, session.size - 1)}`,
          'Docker-Upload-UUID': session.id,
          'Content-Length': '0',
        });
      }
      if (method === 'PUT')
        return this.commit(session, req, url.searchParams.get('digest') ?? '', m[1]!, res);
      if (method === 'DELETE') {
        this.abort(session, new Error('the daemon cancelled the upload'));
        return reply(res, 204);
      }
      return reply(res, 204, { Location: location, Range: `0-${Math.max(0, session.size - 1)}` });
    }
    m = /^\/v2\/(.+)\/blobs\/(sha256:[a-f0-9]{64})$/.exec(path);
    if (m && (method === 'HEAD' || method === 'GET')) return this.statBlob(m[2]!, res);
    m = /^\/v2\/(.+)\/manifests\/([^/]+)$/.exec(path);
    if (m && method === 'PUT') return this.putManifest(m[1]!, req, res);
    if (m) return fail(res, 404, 'MANIFEST_UNKNOWN', 'manifests are only written here');
    return fail(res, 404, 'UNSUPPORTED', `${method} ${path} is not part of a push`);
  }

  /** 200 only when every target already holds the blob: then the daemon skips it. */
  private async statBlob(digest: string, res: ServerResponse): Promise<void> {
    let size = this.blobs.get(digest);
    if (size === undefined) {
      const sizes = await Promise.all(
        this.opts.targets.map((t) => t.client.statBlob(t.repo, digest).catch(() => undefined)),
      );
      if (sizes.every((s) => s !== undefined)) {
        size = sizes[0]!;
        this.blobs.set(digest, size);
        this.opts.log.debug(`relay: every registry already has ${digest}`);
      }
    }
    if (size === undefined) return fail(res, 404, 'BLOB_UNKNOWN', 'blob unknown');
    reply(res, 200, {
      'Content-Length': String(size),
      'Docker-Content-Digest': digest,
      'Content-Type': 'application/octet-stream',
    });
  }

  /** A new upload: each registry's own upload starts now, so its POST overlaps the daemon's. */
  private async startSession(name: string, res: ServerResponse): Promise<void> {
    const id = randomUUID();
    const file = join(this.dir, `${id}.blob`);
    // A deep buffer: with the 16 KiB default every chunk would wait for its disk write.
    const spool = createWriteStream(file, { highWaterMark: 8 * MiB });
    spool.on('error', () => undefined); // reported by finished() at commit
    let settleDigest!: (digest: string) => void;
    let abandon!: (reason: Error) => void;
    const digest = new Promise<string>((resolve, reject) => {
      settleDigest = resolve;
      abandon = reject;
    });
    digest.catch(() => undefined); // each sink reports it
    const sinks = this.groups.map((group): Sink => {
      const body = new PassThrough({ highWaterMark: MiB });
      const done = group.primary.client.uploadStream(group.primary.repo, body, digest);
      const sink: Sink = { group, body, done };
      done.catch((err: unknown) => {
        sink.failed = err;
        body.destroy();
      });
      return sink;
    });
    const hash = createHash('sha256');
    this.sessions.set(id, { id, file, spool, hash, size: 0, sinks, digest, settleDigest, abandon });
    reply(res, 202, {
      Location: `/v2/${name}/blobs/uploads/${id}`,
      Range: '0-0',
      'Docker-Upload-UUID': id,
      'Content-Length': '0',
    });
  }

  /** Copies the request body to the spool file and every live registry stream, at the pace of the slowest. */
  private async feed(session: Session, req: IncomingMessage): Promise<void> {
    for await (const chunk of req as AsyncIterable<Buffer>) {
      session.hash.update(chunk);
      session.size += chunk.length;
      const waits: Promise<unknown>[] = [];
      if (!session.spool.write(chunk)) waits.push(drained(session.spool));
      for (const sink of session.sinks) {
        if (sink.failed || sink.body.destroyed) continue;
        sink.group.sent += chunk.length;
        if (!sink.body.write(chunk)) waits.push(Promise.race([drained(sink.body), sink.done.catch(() => 0)]));
      }
      if (waits.length) await Promise.all(waits);
    }
  }

  private async commit(
    session: Session,
    req: IncomingMessage,
    digest: string,
    name: string,
    res: ServerResponse,
  ): Promise<void> {
    await this.feed(session, req);
    this.sessions.delete(session.id);
    session.spool.end();
    await finished(session.spool);
    const actual = `sha256:${session.hash.digest('hex')}`;
    if (digest !== actual) {
      this.abort(session, new Error(`the daemon sent ${actual} for ${digest}`));
      return fail(res, 400, 'DIGEST_INVALID', `content is ${actual}, not ${digest}`);
    }
    session.settleDigest(digest);
    for (const sink of session.sinks) if (!sink.failed) sink.body.end();
    this.blobs.set(digest, session.size);
    this.opts.log.debug(`relay: the daemon sent ${digest} (${session.size} bytes)`);
    this.jobs.push(this.deliver(session, digest));
    reply(res, 201, {
      Location: `/v2/${name}/blobs/${digest}`,
      'Docker-Content-Digest': digest,
      'Content-Length': '0',
    });
  }

  /** Makes sure every target holds the blob: the live stream, else a retried upload from the spool. */
  private async deliver(session: Session, digest: string): Promise<void> {
    const size = session.size;
    const fromSpool = () => createReadStream(session.file);
    await Promise.all(
      session.sinks.map(async ({ group, done }) => {
        const { primary, others } = group;
        const where = `${group.registry}/${primary.repo}`;
        // The daemon cannot be asked again, but the spool holds every byte it sent.
        let ok = await done.then(
          () => true,
          (err: unknown) => {
            this.opts.log.info(`${where}: streaming ${digest} failed (${messageOf(err)}); sending it again`);
            return false;
          },
        );
        if (!ok) {
          try {
            await primary.client.uploadBlob(primary.repo, digest, size, fromSpool);
            ok = true;
          } catch (err) {
            this.failures.set(primary, err);
          }
        }
        for (const t of others) {
          try {
            const mounted = ok && (await t.client.mountBlob(t.repo, digest, primary.repo));
            if (!mounted) await t.client.uploadBlob(t.repo, digest, size, fromSpool);
          } catch (err) {
            this.failures.set(t, err);
          }
        }
      }),
    );
    await rm(session.file, { force: true });
    this.opts.log.debug(`relay: ${digest} is in every registry`);
  }

  private abort(session: Session, reason: Error): void {
    this.sessions.delete(session.id);
    session.abandon(reason);
    for (const sink of session.sinks) sink.body.destroy(reason);
    session.spool.destroy();
    void rm(session.file, { force: true });
  }

  private async putManifest(name: string, req: IncomingMessage, res: ServerResponse): Promise<void> {
    const body = await readAll(req, MAX_MANIFEST_BYTES);
    const digest = sha256Digest(body);
    const mediaType = req.headers['content-type'] ?? '';
    this.manifest = { body, mediaType, digest };
    this.manifestReceived(this.manifest);
    this.opts.log.debug(`relay: the daemon sent manifest ${digest}`);
    reply(res, 201, {
      Location: `/v2/${name}/manifests/${digest}`,
      'Docker-Content-Digest': digest,
      'Content-Length': '0',
    });
  }
}

function drained(stream: NodeJS.WritableStream & { destroyed?: boolean }): Promise<void> {
  return new Promise((resolve) => {
    const done = () => {
      stream.off('drain', done);
      stream.off('close', done);
      resolve();
    };
    stream.on('drain', done);
    stream.on('close', done);
  });
}
