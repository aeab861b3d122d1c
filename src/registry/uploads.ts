/**
 * Blob writes: cross-repository mounts, monolithic uploads (POST then PUT with Content-Length,
 * what every registry takes) and docker's streamed upload (one chunked PATCH of unknown length,
 * the fast path). What each registry refused is remembered for the rest of the run: one that
 * takes no streamed upload gets POST + PUT, a mount source it refused is not asked again.
 */
import type { IncomingMessage } from 'node:http';
import type { Readable } from 'node:stream';
import { AccessDeniedError } from './denied.js';
import { drain, headerValue, type OpenStream } from './http.js';
import { refString } from './reference.js';
import { RegistryError } from './retry.js';
import type { Transport } from './transport.js';

/** A cross-repository mount: done (201), or the upload session the registry opened instead (202). */
export type MountResult = { mounted: true } | { mounted: false; session?: URL };

/**
 * Answers to the streamed PATCH that refuse the method, not the blob: no chunked bodies (400
 * BLOB_UPLOAD_INVALID, 411 Length Required), no PATCH (405, 501), a body too large for one
 * PATCH (413, 416: GHCR's 4 MiB), a Content-Type it does not take (415). POST + PUT with a
 * Content-Length still works on such registries.
 */
const STREAM_REFUSALS = new Set([400, 405, 411, 413, 415, 416, 501]);

/** The registry took no streamed upload: the blob must go again as POST + PUT with its length. */
export function isStreamRefusal(err: unknown): boolean {
  return err instanceof RegistryError && err.code === 'STREAM_REFUSED';
}

export class BlobWriter {
  /** Why this registry refused a streamed upload, once it did: later blobs go as POST + PUT. */
  private streamRefusal?: string;
  /**
   * The answer to this registry's first streamed PATCH, until one was taken: later streams wait
   * for it before sending, so a registry that refuses streaming is sent exactly one PATCH.
   * Costs one round trip once per registry; blobs are spooled meanwhile.
   */
  private firstStream?: Promise<unknown>;
  private streamProven = false;
  /** Source repositories a mount from was refused (401/403/404): not asked again this run. */
  private readonly mountRefused = new Set<string>();

  constructor(private readonly transport: Transport) {}

  /** Whether blobs may be streamed (one PATCH of unknown length); false once the registry refused it. */
  get streams(): boolean {
    return this.streamRefusal === undefined;
  }

  /**
   * Cross-repository mount. 201: mounted. 202: the registry opened a plain upload session
   * instead (Nexus always; ECR for a blob no manifest of the source references): the caller
   * uploads into it. 401/403/404 (Harbor when the source project is missing, GitLab across
   * projects): a refusal of the mount, not of the push, so the caller uploads as usual and
   * that source is not asked again; unless the token grants no push to the target at all.
   */
  async mountBlob(repo: string, digest: string, fromRepo: string): Promise<MountResult> {
    if (this.mountRefused.has(fromRepo)) return { mounted: false };
    const what = `POST blob mount ${refString(repo, digest)} from ${fromRepo}`;
    try {
      return await this.transport.retry(what, async (): Promise<MountResult> => {
        const q = new URLSearchParams({ mount: digest, from: fromRepo });
        const res = await this.transport.send({
          method: 'POST',
          url: `/v2/${repo}/blobs/uploads/?${q}`,
          what,
          ref: refString(repo, digest),
          headers: { 'Content-Length': '0' },
          access: { repo, push: true, mountFrom: fromRepo },
          ok: [201, 202],
        });
        drain(res);
        if (res.statusCode === 201) return { mounted: true };
        const location = headerValue(res.headers, 'location');
        return location ? { mounted: false, session: this.transport.resolve(location) } : { mounted: false };
      });
    } catch (err) {
      if (!(err instanceof RegistryError) || ![401, 403, 404].includes(err.status ?? 0)) throw err;
      if (err instanceof AccessDeniedError && err.certain) throw err; // the target itself is refused
      this.mountRefused.add(fromRepo);
      this.transport.log.debug(`${what} refused (${err.reason}); uploading instead`);
      return { mounted: false };
    }
  }

  /** Mounts the blob from `fromRepo`, else uploads it (into the session a declined mount opened). */
  async mountOrUpload(
    repo: string,
    digest: string,
    fromRepo: string,
    size: number,
    open: OpenStream,
  ): Promise<'mounted' | 'uploaded'> {
    const m = await this.mountBlob(repo, digest, fromRepo);
    if (m.mounted) return 'mounted';
    await this.uploadBlob(repo, digest, size, open, m.session);
    return 'uploaded';
  }

  /**
   * Monolithic upload, what every registry takes: POST uploads/ (or the `session` a declined
   * mount opened), then one PUT `?digest=` streaming `open()` with Content-Length `size`. A
   * retryable failure restarts from a fresh POST and a fresh stream.
   */
  async uploadBlob(
    repo: string,
    digest: string,
    size: number,
    open: OpenStream,
    session?: URL,
  ): Promise<void> {
    const ref = refString(repo, digest);
    let given = session;
    await this.transport.retry(`upload blob ${ref}`, async () => {
      const url = given ?? (await this.startUpload(repo, ref));
      given = undefined;
      url.searchParams.set('digest', digest);
      const res = await this.transport.send({
        method: 'PUT',
        url,
        what: `PUT blob ${ref}`,
        ref,
        headers: { 'Content-Type': 'application/octet-stream', 'Content-Length': String(size) },
        body: open,
        access: { repo, push: true },
        ok: [201, 204],
      });
      drain(res);
    });
  }

  /**
   * Streams `body`, whose length is not known up front, the way docker does: POST uploads/,
   * one chunked PATCH, then PUT `?digest=` once `digest` resolves (the caller hashes what it
   * feeds in). A stream cannot be replayed, so only the POST and the closing PUT are retried;
   * callers keep a copy to retry the whole upload. A PATCH answered 201 (ECR) is as good as
   * 202. A registry that refuses the streamed PATCH itself (see STREAM_REFUSALS) is not sent
   * another for the rest of the run (`streams` turns false) and the error says STREAM_REFUSED.
   */
  async uploadStream(repo: string, body: Readable, digest: Promise<string>): Promise<void> {
    const ref = `${repo} (streamed blob)`;
    const location = await this.transport.retry(`POST blob upload ${repo}`, () =>
      this.startUpload(repo, ref),
    );
    const patched = await this.patch(repo, ref, location, body);
    const d = await digest;
    const next = this.transport.resolve(headerValue(patched.headers, 'location') ?? location.href);
    next.searchParams.set('digest', d);
    await this.transport.retry(`PUT blob ${refString(repo, d)}`, async () => {
      const res = await this.transport.send({
        method: 'PUT',
        url: next,
        what: `PUT blob ${refString(repo, d)}`,
        ref: refString(repo, d),
        headers: { 'Content-Length': '0' },
        access: { repo, push: true },
        ok: [201, 204],
      });
      drain(res);
    });
  }

  /** The one PATCH of a streamed upload, once this registry's first one was answered. */
  private async patch(repo: string, ref: string, location: URL, body: Readable): Promise<IncomingMessage> {
    const first = this.firstStream;
    let settleFirst: (() => void) | undefined;
    if (first) {
      if (!this.streamProven) await first;
    } else this.firstStream = new Promise<void>((resolve) => (settleFirst = resolve));
    let sent = false;
    try {
      const patched = await this.transport.send({
        method: 'PATCH',
        url: location,
        what: `PATCH blob ${ref}`,
        ref,
        headers: { 'Content-Type': 'application/octet-stream' },
        // Sent once: a second round (a 401 mid-stream) must fail fast, the caller resends a copy.
        body: () => {
          if (sent) throw new Error('a streamed blob cannot be sent twice');
          if (this.streamRefusal) throw this.streamRefused(ref, this.streamRefusal);
          sent = true;
          return body;
        },
        access: { repo, push: true },
        ok: [201, 202, 204],
      });
      this.streamProven = true;
      drain(patched);
      return patched;
    } catch (err) {
      void this.cancelUpload(repo, location.href);
      if (!(err instanceof RegistryError && STREAM_REFUSALS.has(err.status ?? 0))) throw err;
      const reason = `PATCH answered ${err.reason}${err.code ? ` ${err.code}` : ''}`;
      if (this.streamRefusal === undefined) {
        this.streamRefusal = reason;
        this.transport.log.info(
          `${this.transport.registry} refused a streamed upload (${reason}); sending blobs with POST + PUT and their length from now on`,
        );
      }
      throw this.streamRefused(ref, reason, err);
    } finally {
      settleFirst?.();
    }
  }

  private streamRefused(ref: string, reason: string, cause?: unknown): RegistryError {
    const registry = this.transport.registry;
    const init = { registry, ref, retryable: false, code: 'STREAM_REFUSED', reason };
    return new RegistryError(
      `registry ${registry}: streamed upload of ${ref} refused (${reason})`,
      cause === undefined ? init : { ...init, cause },
    );
  }

  private async startUpload(repo: string, ref: string): Promise<URL> {
    const start = await this.transport.send({
      method: 'POST',
      url: `/v2/${repo}/blobs/uploads/`,
      what: `POST blob upload ${repo}`,
      ref,
      headers: { 'Content-Length': '0' },
      access: { repo, push: true },
      ok: [202],
    });
    drain(start);
    const location = headerValue(start.headers, 'location');
    if (!location) {
      const registry = this.transport.registry;
      throw new RegistryError(`registry ${registry}: POST blob upload ${repo} answered without a Location`, {
        registry,
        ref,
        retryable: false,
      });
    }
    return this.transport.resolve(location);
  }

  /** Best-effort DELETE of an upload session we do not need. */
  private async cancelUpload(repo: string, location: string): Promise<void> {
    try {
      const res = await this.transport.send({
        method: 'DELETE',
        url: this.transport.resolve(location),
        what: `DELETE blob upload ${repo}`,
        access: { repo, push: true },
        ok: [200, 202, 204, 404],
      });
      drain(res);
    } catch (e) {
      this.transport.log.debug(
        `registry ${this.transport.registry}: cancelling an upload failed: ${(e as Error).message}`,
      );
    }
  }
}
