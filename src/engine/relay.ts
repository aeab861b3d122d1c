/**
 * Fans blobs out to every target registry at once. Each blob is read once, spooled to a
 * temporary file and streamed live to the first repository of every registry; a target whose
 * stream breaks gets it again from the spool, and the other repositories of a registry mount it.
 * Whatever the number of registries, the bytes are produced (compressed) once.
 */
import { createHash, randomUUID, type Hash } from 'node:crypto';
import { createReadStream, createWriteStream, type WriteStream } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { PassThrough } from 'node:stream';
import { finished } from 'node:stream/promises';
import { messageOf } from '../errors.js';
import type { Logger } from '../log.js';
import { isStreamRefusal, type RegistryClient } from '../registry/client.js';
import { RegistryError } from '../registry/retry.js';

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

/** A live stream to one registry; a group without one gets the blob from the spool file. */
interface Sink {
  group: Group;
  body?: PassThrough;
  done?: Promise<void>;
  failed?: unknown;
}

interface Session {
  file: string;
  spool: WriteStream;
  /** Why the spool file failed (a full disk): the blob cannot be kept, so ingest fails. */
  spoolError?: Error;
  hash: Hash;
  size: number;
  sinks: Sink[];
  /** Resolve and reject the digest promise the uploads wait on. */
  settleDigest: (digest: string) => void;
  abandon: (reason: Error) => void;
}

const MiB = 1024 * 1024;
/** Statuses a second upload of the same bytes would get again: credentials, rights, the name. */
const REFUSALS = new Set([400, 401, 403, 404]);

const mib = (n: number) => `${(n / MiB).toFixed(1)} MiB`;

export class PushRelay {
  private readonly groups: Group[];
  private readonly sessions = new Set<Session>();
  private readonly jobs: Promise<void>[] = [];
  private readonly failures = new Map<RelayTarget, unknown>();
  private readonly progress: NodeJS.Timeout;
  private lastSent = new Map<Group, number>();

  private constructor(
    private readonly dir: string,
    private readonly opts: RelayOptions,
  ) {
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
    return new PushRelay(await mkdtemp(join(opts.tmpDir, 'relay-')), opts);
  }

  /**
   * Streams one blob to every target as it is read, and returns its digest and size once it is
   * read whole; the uploads finish in the background (see `settle`).
   */
  async ingest(body: AsyncIterable<Buffer>): Promise<{ digest: string; size: number }> {
    const session = this.open();
    try {
      await this.feed(session, body);
      session.spool.end();
      await finished(session.spool);
    } catch (err) {
      this.abort(session, err instanceof Error ? err : new Error(String(err)));
      throw err;
    }
    this.sessions.delete(session);
    const digest = `sha256:${session.hash.digest('hex')}`;
    session.settleDigest(digest);
    for (const sink of session.sinks) if (!sink.failed) sink.body?.end();
    this.opts.log.debug(`relay: read ${digest} (${session.size} bytes)`);
    this.jobs.push(this.deliver(session, digest));
    return { digest, size: session.size };
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
    for (const s of [...this.sessions]) this.abort(s, new Error('the push was abandoned'));
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

  /** A new blob: each registry's own upload starts now, so its POST overlaps the reading. */
  private open(): Session {
    const file = join(this.dir, `${randomUUID()}.blob`);
    // A deep buffer: with the 16 KiB default every chunk would wait for its disk write.
    const spool = createWriteStream(file, { highWaterMark: MiB });
    spool.on('error', (err) => (session.spoolError ??= err));
    let settleDigest!: (digest: string) => void;
    let abandon!: (reason: Error) => void;
    const digest = new Promise<string>((resolve, reject) => {
      settleDigest = resolve;
      abandon = reject;
    });
    digest.catch(() => undefined); // each sink reports it
    const sinks = this.groups.map((group): Sink => {
      // A registry that refused a streamed upload, or refused this target outright (its name,
      // its credentials), gets no stream: the spool file serves the one, nothing the other.
      if (!group.primary.client.streams || this.failures.has(group.primary)) return { group };
      const body = new PassThrough({ highWaterMark: MiB });
      // Destroyed with a reason when the session is abandoned, maybe before the upload reads it.
      body.on('error', () => undefined);
      const done = group.primary.client.uploadStream(group.primary.repo, body, digest);
      const sink: Sink = { group, body, done };
      done.catch((err: unknown) => {
        sink.failed = err;
        body.destroy();
      });
      return sink;
    });
    const session: Session = {
      file,
      spool,
      hash: createHash('sha256'),
      size: 0,
      sinks,
      settleDigest,
      abandon,
    };
    this.sessions.add(session);
    return session;
  }

  /** Copies the bytes to the spool file and every live registry stream, at the pace of the slowest. */
  private async feed(session: Session, body: AsyncIterable<Buffer>): Promise<void> {
    for await (const chunk of body) {
      session.hash.update(chunk);
      session.size += chunk.length;
      const waits: Promise<unknown>[] = [];
      if (session.spoolError || session.spool.destroyed)
        throw session.spoolError ?? new Error('the spool file closed');
      if (!session.spool.write(chunk)) waits.push(drained(session.spool));
      for (const sink of session.sinks) {
        if (!sink.body || !sink.done || sink.failed || sink.body.destroyed) continue;
        sink.group.sent += chunk.length;
        if (!sink.body.write(chunk)) waits.push(Promise.race([drained(sink.body), sink.done.catch(() => 0)]));
      }
      if (waits.length) await Promise.all(waits);
    }
  }

  /** Makes sure every target holds the blob: the live stream, else an upload from the spool. */
  private async deliver(session: Session, digest: string): Promise<void> {
    const size = session.size;
    const fromSpool = () => createReadStream(session.file);
    await Promise.all(
      session.sinks.map(async ({ group, done }) => {
        const { primary, others } = group;
        // A target refused for an earlier blob would only be refused again.
        let ok = false;
        if (!this.failures.has(primary)) {
          ok = done ? await this.streamed(group, done, digest) : false;
          if (!ok && !this.failures.has(primary))
            ok = await this.upload(primary, () =>
              primary.client.uploadBlob(primary.repo, digest, size, fromSpool),
            );
        }
        for (const t of others) {
          if (this.failures.has(t)) continue; // refused for an earlier blob
          await this.upload(t, async () => {
            if (ok) await t.client.mountOrUpload(t.repo, digest, primary.repo, size, fromSpool);
            else await t.client.uploadBlob(t.repo, digest, size, fromSpool);
          });
        }
      }),
    );
    await rm(session.file, { force: true });
    this.opts.log.debug(`relay: ${digest} is in every registry`);
  }

  /**
   * How the live stream to a registry ended: true when it delivered the blob; false when the
   * spool file must send it again (a cut stream, a registry that takes no streamed upload, of
   * which the client has already told); throws nothing, but records a refusal of the target
   * itself (credentials, rights, the name), which a second upload would only get again.
   */
  private async streamed(group: Group, done: Promise<void>, digest: string): Promise<boolean> {
    try {
      await done;
      return true;
    } catch (err) {
      if (isStreamRefusal(err)) return false;
      if (err instanceof RegistryError && REFUSALS.has(err.status ?? 0)) {
        this.failures.set(group.primary, err);
        return false;
      }
      this.opts.log.info(
        `${group.registry}/${group.primary.repo}: streaming ${digest} failed (${messageOf(err)}); sending it again`,
      );
      return false;
    }
  }

  /** Runs one upload to `target`, recording its failure; true when it went through. */
  private async upload(target: RelayTarget, send: () => Promise<unknown>): Promise<boolean> {
    try {
      await send();
      return true;
    } catch (err) {
      this.failures.set(target, err);
      return false;
    }
  }

  private abort(session: Session, reason: Error): void {
    this.sessions.delete(session);
    session.abandon(reason);
    for (const sink of session.sinks) sink.body?.destroy(reason);
    session.spool.destroy();
    void rm(session.file, { force: true });
  }
}

/** Resolves on 'drain', or at once when the stream is gone: a destroyed stream never drains. */
function drained(stream: NodeJS.WritableStream & { destroyed?: boolean }): Promise<void> {
  if (stream.destroyed) return Promise.resolve();
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
