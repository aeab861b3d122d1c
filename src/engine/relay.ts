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
import { type Counter, mib, Progress, type ProgressOptions, seconds, type Task } from './progress.js';

export interface RelayTarget {
  client: RegistryClient;
  repo: string;
}

export interface RelayOptions {
  targets: RelayTarget[];
  /** Where blobs are spooled while they stream (one file per blob, removed when done). */
  tmpDir: string;
  log: Logger;
  /** The progress lines' clock and pace (tests); lines go to `log.info`. */
  progress?: Omit<ProgressOptions, 'log'>;
}

/** What became of the blobs on one registry, for its closing line. */
interface Tally {
  /** Streamed (or sent again from the spool) to the first repository. */
  sent: number;
  sentBytes: number;
  /** Mounted into, or uploaded to, the other repositories on the registry. */
  mounted: number;
  copied: number;
  /** Already there: not compressed, not sent. */
  skipped: number;
}

/** The targets on one registry: blobs stream to the first, the others mount from it. */
interface Group {
  registry: string;
  primary: RelayTarget;
  others: RelayTarget[];
  tally: Tally;
}

/** A live stream to one registry; a group without one gets the blob from the spool file. */
interface Sink {
  group: Group;
  body?: PassThrough;
  done?: Promise<void>;
  failed?: unknown;
  /** Bytes handed to this registry's upload, on the blob's progress line. */
  counter?: Counter;
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

export class PushRelay {
  private readonly groups: Group[];
  private readonly sessions = new Set<Session>();
  private readonly jobs: Promise<void>[] = [];
  private readonly failures = new Map<RelayTarget, unknown>();
  /** Progress lines of this push: saved.ts adds the export's and each layer's task. */
  readonly progress: Progress;
  private readonly started = Date.now();

  private constructor(
    private readonly dir: string,
    private readonly opts: RelayOptions,
  ) {
    const byRegistry = new Map<string, Group>();
    for (const t of opts.targets) {
      const g = byRegistry.get(t.client.registry);
      if (g) g.others.push(t);
      else
        byRegistry.set(t.client.registry, {
          registry: t.client.registry,
          primary: t,
          others: [],
          tally: { sent: 0, sentBytes: 0, mounted: 0, copied: 0, skipped: 0 },
        });
    }
    this.groups = [...byRegistry.values()];
    this.progress = new Progress({ ...opts.progress, log: (line) => opts.log.info(line) });
  }

  static async start(opts: RelayOptions): Promise<PushRelay> {
    return new PushRelay(await mkdtemp(join(opts.tmpDir, 'relay-')), opts);
  }

  /**
   * Streams one blob to every target as it is read, and returns its digest and size once it is
   * read whole; the uploads finish in the background (see `settle`). With a `task`, its progress
   * line shows the bytes handed to each registry.
   */
  async ingest(body: AsyncIterable<Buffer>, task?: Task): Promise<{ digest: string; size: number }> {
    const session = this.open();
    if (task)
      for (const sink of session.sinks) sink.counter = task.counter(`to ${sink.group.registry}`, 0, true);
    try {
      await this.feed(session, body);
      session.spool.end();
      await finished(session.spool);
    } catch (err) {
      this.abort(session, err instanceof Error ? err : new Error(String(err)));
      throw err;
    }
    this.sessions.delete(session);
    for (const sink of session.sinks) if (sink.counter) sink.counter.growing = false;
    const digest = `sha256:${session.hash.digest('hex')}`;
    session.settleDigest(digest);
    for (const sink of session.sinks) if (!sink.failed) sink.body?.end();
    this.opts.log.debug(`relay: read ${digest} (${session.size} bytes)`);
    this.jobs.push(this.deliver(session, digest));
    return { digest, size: session.size };
  }

  /** A blob every target already holds: counted on each registry's closing line, never sent. */
  held(): void {
    for (const g of this.groups) g.tally.skipped++;
  }

  /**
   * Waits for every blob to reach every target (retries included) and returns, per target,
   * the error that kept a blob from it. A target with no entry holds every blob. Then says,
   * per registry, what was sent, mounted and skipped, and how long it took.
   */
  async settle(): Promise<Map<RelayTarget, unknown>> {
    await Promise.all(this.jobs);
    const took = seconds(Date.now() - this.started);
    for (const g of this.groups) this.opts.log.info(closingLine(g, took, this.failures));
    return this.failures;
  }

  async close(): Promise<void> {
    this.progress.stop();
    for (const s of [...this.sessions]) this.abort(s, new Error('the push was abandoned'));
    await Promise.allSettled(this.jobs);
    await rm(this.dir, { recursive: true, force: true });
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
        if (sink.counter) sink.counter.total = session.size;
        if (!sink.body || !sink.done || sink.failed || sink.body.destroyed) continue;
        sink.counter?.add(chunk.length);
        if (!sink.body.write(chunk)) waits.push(Promise.race([drained(sink.body), sink.done.catch(() => 0)]));
      }
      if (waits.length) await Promise.all(waits);
    }
  }

  /** Makes sure every target holds the blob: the live stream, else an upload from the spool. */
  private async deliver(session: Session, digest: string): Promise<void> {
    const size = session.size;
    const resend = this.resendTask(digest, size);
    const fromSpool = (registry: string) => () => resend.open(registry, session.file);
    try {
      await Promise.all(
        session.sinks.map(async ({ group, done }) => {
          const { primary, others } = group;
          // A target refused for an earlier blob would only be refused again.
          let ok = false;
          if (!this.failures.has(primary)) {
            ok = done ? await this.streamed(group, done, digest) : false;
            if (!ok && !this.failures.has(primary))
              ok = await this.upload(primary, () =>
                primary.client.uploadBlob(
                  primary.repo,
                  digest,
                  size,
                  fromSpool(`${group.registry}/${primary.repo}`),
                ),
              );
          }
          if (ok) {
            group.tally.sent++;
            group.tally.sentBytes += size;
          }
          for (const t of others) {
            if (this.failures.has(t)) continue; // refused for an earlier blob
            await this.upload(t, async () => {
              const how = ok
                ? await t.client.mountOrUpload(
                    t.repo,
                    digest,
                    primary.repo,
                    size,
                    fromSpool(`${group.registry}/${t.repo}`),
                  )
                : (await t.client.uploadBlob(t.repo, digest, size, fromSpool(`${group.registry}/${t.repo}`)),
                  'uploaded');
              group.tally[how === 'mounted' ? 'mounted' : 'copied']++;
            });
          }
        }),
      );
    } finally {
      resend.finish();
    }
    await rm(session.file, { force: true });
    this.opts.log.debug(`relay: ${digest} is in every registry`);
  }

  /**
   * Progress of the uploads that read the spool file (a stream that broke, a registry that takes
   * no streamed body): a task of their own, made only when one starts, one counter a
   * repository, counted again from zero when an attempt starts over.
   */
  private resendTask(digest: string, size: number) {
    let task: Task | undefined;
    const counters = new Map<string, Counter>();
    return {
      open: (where: string, file: string) => {
        task ??= this.progress.task(`Blob ${digest.slice(7, 19)} from the spool`);
        let c = counters.get(where);
        if (!c) counters.set(where, (c = task.counter(`to ${where}`, size)));
        c.done = 0;
        const stream = createReadStream(file);
        stream.on('data', (chunk) => c.add(chunk.length));
        return stream;
      },
      finish: () => task?.finish(),
    };
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

const plural = (n: number, one: string) => `${n} ${one}${n === 1 ? '' : 's'}`;

/** `reg: 3 blobs sent (100.0 MiB), 3 mounted into other repositories, 2 already there, in 4.2 s`. */
function closingLine(g: Group, took: string, failures: Map<RelayTarget, unknown>): string {
  const t = g.tally;
  const parts = [`${plural(t.sent, 'blob')} sent (${mib(t.sentBytes)}) to ${g.primary.repo}`];
  if (g.others.length) {
    const into = g.others.map((o) => o.repo).join(', ');
    parts.push(`${t.mounted} mounted${t.copied ? ` and ${t.copied} copied` : ''} into ${into}`);
  }
  parts.push(`${t.skipped} already there`);
  const failed = [g.primary, ...g.others].filter((x) => failures.has(x)).map((x) => x.repo);
  if (failed.length) parts.push(`failed for ${failed.join(', ')}`);
  return `${g.registry}: ${parts.join(', ')}, in ${took}`;
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
