/**
 * One HTTP request to a registry or its token server, over node:http/https with keep-alive:
 * no auth, no retries, no interpretation of the status (transport.ts adds those).
 */
import http, { type IncomingHttpHeaders, type IncomingMessage } from 'node:http';
import https from 'node:https';
import { Readable } from 'node:stream';

/** Opens a request body; called once per attempt, so a retry sends a fresh stream. */
export type OpenStream = () => Readable | Promise<Readable>;

export function headerValue(headers: IncomingHttpHeaders, name: string): string | undefined {
  const v = headers[name];
  return Array.isArray(v) ? v[0] : v;
}

/** A whole (small) body, refusing one larger than `limit` bytes; `what` names it in that error. */
export async function readAll(
  res: AsyncIterable<Buffer> & { destroy?(): void },
  limit: number,
  what = 'response',
): Promise<Buffer> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of res) {
    const b = chunk as Buffer;
    size += b.length;
    if (size > limit) {
      res.destroy?.();
      throw new Error(`${what} larger than ${limit} bytes`);
    }
    chunks.push(b);
  }
  return Buffer.concat(chunks);
}

/** Reads and drops a body we do not need, so its socket goes back to the pool. */
export function drain(res: IncomingMessage): void {
  res.resume();
  res.on('error', () => {});
}

export class HttpConnection {
  private readonly httpAgent: http.Agent;
  private readonly httpsAgent: https.Agent;

  constructor(private readonly timeoutMs: number) {
    // A `timeout` makes Node honour the server's `Keep-Alive: timeout=N` hint and drop an idle
    // socket before the server does; without one, a socket reused just as the server closes it
    // fails with ECONNRESET (and costs a retry).
    const agent = { keepAlive: true, maxSockets: 16, timeout: timeoutMs };
    this.httpAgent = new http.Agent(agent);
    this.httpsAgent = new https.Agent(agent);
  }

  /** Frees keep-alive sockets. */
  close(): void {
    this.httpAgent.destroy();
    this.httpsAgent.destroy();
  }

  /** A single request; resolves with the response (body unread) or rejects on network errors. */
  async request(
    method: string,
    url: URL,
    headers: Record<string, string>,
    body: Buffer | OpenStream | undefined,
  ): Promise<IncomingMessage> {
    const source = typeof body === 'function' ? await body() : body;
    const isHttps = url.protocol === 'https:';
    const lib = isHttps ? https : http;
    if (Buffer.isBuffer(source)) headers['Content-Length'] = String(source.length);
    return new Promise<IncomingMessage>((resolve, reject) => {
      let settled = false;
      const fail = (e: Error) => {
        if (settled) return;
        settled = true;
        if (source instanceof Readable) source.destroy();
        reject(e);
      };
      const req = lib.request(
        url,
        { method, headers, agent: isHttps ? this.httpsAgent : this.httpAgent },
        (res) => {
          if (settled) {
            drain(res);
            return;
          }
          settled = true;
          if (source instanceof Readable && !source.readableEnded) {
            // Answered before the body was sent (an error): stop sending, do not reuse the socket.
            source.unpipe(req);
            source.destroy();
            res.once('close', () => req.destroy());
          }
          resolve(res);
        },
      );
      req.setTimeout(this.timeoutMs, () => {
        const e = Object.assign(new Error(`request timeout after ${this.timeoutMs} ms`), {
          code: 'ETIMEDOUT',
        });
        req.destroy(e);
      });
      req.on('error', fail);
      if (source instanceof Readable) {
        source.on('error', (e) => {
          fail(e);
          req.destroy(e);
        });
        source.pipe(req);
      } else {
        req.end(source);
      }
    });
  }
}
