/**
 * A reverse proxy that gives the real registry of the test bed one "personality": a behaviour
 * some public registry has (GAR refusing streamed bodies, ECR answering PATCH with 201, Harbor
 * refusing a mount with 401, S3 behind a blob redirect, ...). The rules live in
 * personalities.ts; this file moves the bytes and keeps a log of every request, with how many
 * body bytes each one carried, so tests can tell which upload method reached the registry.
 */
import http, { type IncomingHttpHeaders, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import { personalities, type Personality, type PersonalityName } from './personalities.js';

export interface ProxiedRequest {
  method: string;
  /** Path with the query string, as the client sent it. */
  path: string;
  headers: IncomingHttpHeaders;
}

export interface Canned {
  status: number;
  headers?: Record<string, string>;
  body?: string;
}

/** What a personality does with one request. */
export type Verdict =
  /** Answer it here, as the registry would not. */
  | { answer: Canned }
  /** Pass it on, maybe to another path (query rewritten); `rewrite` gets the whole answer. */
  | { forward: string; rewrite?: (status: number, body: Buffer) => Canned }
  /** Answer a GET of a blob with a redirect to the storage origin (the registry is asked first). */
  | { redirectBlob: true };

export interface LoggedRequest {
  /** `registry` for the proxy itself, `storage` for the redirect origin. */
  server: 'registry' | 'storage';
  method: string;
  path: string;
  /** 0 until answered; 0 also for a connection that broke. */
  status: number;
  /** Request body bytes that arrived. */
  bytes: number;
  chunked: boolean;
  contentLength?: string;
  contentType?: string;
  authorization: boolean;
  /** Who asked: the daemon says `docker/…`, the action's own client something else. */
  userAgent?: string;
  /** Order of events on this proxy: when the request arrived and when it was answered. */
  startedAt: number;
  answeredAt: number;
}

export interface PersonalityProxy {
  name: PersonalityName;
  /** `127.0.0.1:<port>`, usable as a registry name. */
  host: string;
  /** The storage origin blob reads are redirected to (`redirect` personality). */
  storageHost: string;
  log: LoggedRequest[];
  close(): Promise<void>;
}

export interface PersonalityOptions {
  /** Repositories that exist (`name-unknown`): pushes to any other are refused. */
  existing?: string[];
  /** How long a storage URL is valid (`redirect`, default 5 s). */
  urlLifetimeMs?: number;
}

/** A small HTTP server on 127.0.0.1:<ephemeral port>, with its sockets tracked for close(). */
async function listen(handler: http.RequestListener): Promise<{ host: string; close(): Promise<void> }> {
  const sockets = new Set<Socket>();
  const server = http.createServer(handler);
  server.on('connection', (s) => {
    sockets.add(s);
    s.on('close', () => sockets.delete(s));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    host: `127.0.0.1:${(server.address() as AddressInfo).port}`,
    close: async () => {
      for (const s of sockets) s.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

function reply(res: ServerResponse, method: string, c: Canned): void {
  const body = c.body ?? '';
  res.writeHead(c.status, {
    'Content-Type': 'application/json',
    'Content-Length': String(Buffer.byteLength(body)),
    ...c.headers,
  });
  res.end(method === 'HEAD' ? undefined : body);
}

type Forward = { forward: string; rewrite?: (status: number, body: Buffer) => Canned };
/** Storage URL id -> the blob it stands for, the credentials it was granted with, and its expiry. */
type Grant = { path: string; authorization?: string; expires: number };

/** The two servers of one personality and the log they share. */
class Proxy {
  readonly log: LoggedRequest[] = [];
  self = '';
  storage = '';
  private seq = 0;
  private readonly agent = new http.Agent({ keepAlive: true });
  private readonly grants = new Map<string, Grant>();
  private readonly host: string;
  private readonly port: number;
  private readonly personality: Personality;

  constructor(
    private readonly target: string,
    name: PersonalityName,
    private readonly opts: PersonalityOptions,
  ) {
    [this.host, this.port] = [target.split(':')[0]!, Number(target.split(':')[1] ?? 80)];
    this.personality = personalities[name]({ existing: new Set(opts.existing ?? []) });
  }

  close(): void {
    this.agent.destroy();
  }

  private upstream(
    method: string,
    path: string,
    headers: http.OutgoingHttpHeaders,
    then: (up: IncomingMessage) => void,
  ) {
    const req = http.request(
      { host: this.host, port: this.port, method, path, headers, agent: this.agent },
      then,
    );
    return req;
  }

  private record(server: LoggedRequest['server'], req: IncomingMessage): LoggedRequest {
    const h = req.headers;
    const entry: LoggedRequest = {
      server,
      method: req.method ?? 'GET',
      path: req.url ?? '/',
      status: 0,
      bytes: 0,
      chunked: /chunked/i.test(h['transfer-encoding'] ?? ''),
      authorization: h.authorization !== undefined,
      startedAt: ++this.seq,
      answeredAt: 0,
    };
    if (h['content-length'] !== undefined) entry.contentLength = h['content-length'];
    if (h['content-type'] !== undefined) entry.contentType = h['content-type'];
    if (h['user-agent'] !== undefined) entry.userAgent = h['user-agent'];
    this.log.push(entry);
    req.on('data', (c: Buffer) => (entry.bytes += c.length));
    return entry;
  }

  private answered(entry: LoggedRequest, status: number): void {
    entry.status = status;
    entry.answeredAt = ++this.seq;
  }

  /** The registry side: the personality decides, on the headers or on the whole body. */
  readonly front = (req: IncomingMessage, res: ServerResponse): void => {
    const entry = this.record('registry', req);
    const q: ProxiedRequest = { method: req.method ?? 'GET', path: req.url ?? '/', headers: req.headers };
    const decide = (body?: Buffer) => {
      const v = this.personality.request?.(q, body) ?? { forward: q.path };
      if ('answer' in v) {
        this.answered(entry, v.answer.status);
        // Answered at once, as a server that refuses a body does; the rest of it is read and dropped.
        req.resume();
        return reply(res, q.method, v.answer);
      }
      if ('redirectBlob' in v) return this.redirectBlob(req, res, entry);
      this.forward(q, req, res, entry, v, body);
    };
    if (!this.personality.readsBody?.(q)) return decide();
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => decide(Buffer.concat(chunks)));
  };

  /** Sends the request on to the registry; `body` when the personality already read it. */
  private forward(
    q: ProxiedRequest,
    req: IncomingMessage,
    res: ServerResponse,
    entry: LoggedRequest,
    v: Forward,
    body?: Buffer,
  ): void {
    const headers = { ...req.headers, host: this.target };
    if (body) {
      delete headers['transfer-encoding'];
      headers['content-length'] = String(body.length);
    }
    const up = this.upstream(q.method, v.forward, headers, (answer) => {
      if (v.rewrite) return this.rewritten(q, res, entry, answer, v.rewrite);
      const out = { ...answer.headers };
      if (typeof out.location === 'string')
        out.location = out.location.replace(`http://${this.target}`, `http://${this.self}`);
      const status =
        this.personality.response?.(q, answer.statusCode ?? 502, out) ?? answer.statusCode ?? 502;
      this.answered(entry, status);
      res.writeHead(status, out);
      answer.pipe(res);
      answer.on('error', () => res.destroy());
    });
    up.on('error', () => {
      this.answered(entry, 502);
      if (!res.headersSent) res.writeHead(502).end();
      else res.destroy();
    });
    res.on('close', () => {
      if (!res.writableFinished) up.destroy();
    });
    if (body) up.end(body);
    else req.pipe(up);
  }

  /** The registry's whole answer, rewritten by the personality (a page of tags). */
  private rewritten(
    q: ProxiedRequest,
    res: ServerResponse,
    entry: LoggedRequest,
    answer: IncomingMessage,
    rewrite: NonNullable<Forward['rewrite']>,
  ): void {
    const chunks: Buffer[] = [];
    answer.on('data', (c: Buffer) => chunks.push(c));
    answer.on('end', () => {
      const c = rewrite(answer.statusCode ?? 502, Buffer.concat(chunks));
      this.answered(entry, c.status);
      reply(res, q.method, c);
    });
  }

  /** Asks the registry for the blob with the client's own credentials; hands out a storage URL instead. */
  private redirectBlob(req: IncomingMessage, res: ServerResponse, entry: LoggedRequest): void {
    const headers = { ...req.headers, host: this.target };
    const check = this.upstream('HEAD', req.url ?? '/', headers, (up) => {
      up.resume();
      if (up.statusCode !== 200) {
        // Not there, or not allowed: the registry's own answer.
        this.answered(entry, up.statusCode ?? 502);
        res.writeHead(up.statusCode ?? 502, { ...up.headers });
        return void res.end();
      }
      const id = Math.random().toString(36).slice(2);
      const fresh = this.personality.freshUrl?.(req.url ?? '') ?? true;
      const authorization = req.headers.authorization;
      this.grants.set(id, {
        path: req.url ?? '/',
        ...(authorization ? { authorization } : {}),
        expires: fresh ? Date.now() + (this.opts.urlLifetimeMs ?? 5000) : Date.now() - 1,
      });
      this.answered(entry, 307);
      const location = `http://${this.storage}/blob/${id}?X-Amz-Expires=5&X-Amz-Signature=${id}`;
      reply(res, 'GET', { status: 307, headers: { Location: location } });
    });
    check.on('error', () => {
      this.answered(entry, 502);
      res.writeHead(502).end();
    });
    check.end();
  }

  /** The storage origin: no Authorization wanted (S3 refuses a second auth mechanism), URLs expire. */
  readonly back = (req: IncomingMessage, res: ServerResponse): void => {
    const entry = this.record('storage', req);
    req.resume();
    const id = /^\/blob\/([a-z0-9]+)/.exec(req.url ?? '')?.[1] ?? '';
    const grant = this.grants.get(id);
    const xml = (status: number, code: string, message: string) => {
      this.answered(entry, status);
      reply(res, req.method ?? 'GET', {
        status,
        headers: { 'Content-Type': 'application/xml' },
        body: `<Error><Code>${code}</Code><Message>${message}</Message></Error>`,
      });
    };
    if (req.headers.authorization) return xml(400, 'InvalidArgument', 'Only one auth mechanism allowed');
    if (!grant) return xml(403, 'AccessDenied', 'Access Denied');
    if (grant.expires < Date.now()) return xml(403, 'AccessDenied', 'Request has expired');
    const headers: Record<string, string> = { host: this.target };
    if (grant.authorization) headers.authorization = grant.authorization;
    const get = this.upstream(req.method ?? 'GET', grant.path, headers, (up) => {
      this.answered(entry, up.statusCode ?? 502);
      const out: Record<string, string> = {};
      for (const k of ['content-length', 'content-type', 'etag'])
        if (typeof up.headers[k] === 'string') out[k] = up.headers[k];
      res.writeHead(up.statusCode ?? 502, out);
      up.pipe(res);
    });
    get.on('error', () => res.destroy());
    get.end();
  };
}

export async function startPersonality(
  target: string,
  name: PersonalityName,
  opts: PersonalityOptions = {},
): Promise<PersonalityProxy> {
  const proxy = new Proxy(target, name, opts);
  const front = await listen(proxy.front);
  const back = await listen(proxy.back);
  proxy.self = front.host;
  proxy.storage = back.host;
  return {
    name,
    host: front.host,
    storageHost: back.host,
    log: proxy.log,
    close: async () => {
      proxy.close();
      await Promise.all([front.close(), back.close()]);
    },
  };
}
