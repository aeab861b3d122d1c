/**
 * Shared bits of the local fakes of GitHub's REST API and Docker Hub's web API: a JSON
 * HTTP server on 127.0.0.1:<random port>, a request log, and one-off canned failures.
 */
import http, { type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';

export interface Seen {
  method: string;
  path: string;
  status: number;
}

export interface Failure {
  method?: string;
  path: RegExp;
  status: number;
  /** How many matching requests fail (default: all of them). */
  times?: number;
}

export interface Reply {
  status: number;
  body?: unknown;
  headers?: Record<string, string>;
}

export type Handler = (method: string, url: URL, body: unknown, req: IncomingMessage) => Reply;

export interface FakeServer {
  url: string;
  seen: Seen[];
  fail(f: Failure): void;
  close(): Promise<void>;
}

async function readBody(req: IncomingMessage): Promise<unknown> {
  const chunks: Buffer[] = [];
  for await (const c of req) chunks.push(c as Buffer);
  const text = Buffer.concat(chunks).toString('utf8');
  if (!text) return undefined;
  try {
    return JSON.parse(text) as unknown;
  } catch {
    return text;
  }
}

export async function startFake(handle: Handler): Promise<FakeServer> {
  const seen: Seen[] = [];
  const failures: Failure[] = [];
  const send = (res: ServerResponse, r: Reply) => {
    const body = r.body === undefined ? '' : JSON.stringify(r.body);
    res.writeHead(r.status, { 'content-type': 'application/json; charset=utf-8', ...r.headers });
    res.end(body);
  };
  const server = http.createServer((req, res) => {
    void (async () => {
      const url = new URL(req.url ?? '/', 'http://127.0.0.1');
      const body = await readBody(req);
      const method = req.method ?? 'GET';
      const f = failures.find(
        (x) => (!x.method || x.method === method) && x.path.test(url.pathname) && (x.times ?? 1) > 0,
      );
      let reply: Reply;
      if (f) {
        if (f.times !== undefined) f.times--;
        reply = { status: f.status, body: { message: `canned ${f.status}` } };
      } else {
        try {
          reply = handle(method, url, body, req);
        } catch (err) {
          reply = { status: 500, body: { message: String(err) } };
        }
      }
      seen.push({ method, path: url.pathname + url.search, status: reply.status });
      send(res, reply);
    })();
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as AddressInfo).port;
  return {
    url: `http://127.0.0.1:${port}`,
    seen,
    fail: (f) => failures.push({ times: Infinity, ...f }),
    close: () =>
      new Promise((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

/** One page of `items` and the RFC 8288 Link header GitHub sends (next/last, prev/first). */
export function githubPage<T>(url: URL, base: string, items: T[], maxPerPage: number): Reply {
  const perPage = Math.min(Number(url.searchParams.get('per_page') ?? 30), maxPerPage);
  const page = Math.max(1, Number(url.searchParams.get('page') ?? 1));
  const last = Math.max(1, Math.ceil(items.length / perPage));
  const link = (p: number, rel: string) => {
    const u = new URL(url.pathname + url.search, base);
    u.searchParams.set('per_page', String(perPage));
    u.searchParams.set('page', String(p));
    return `<${u.toString()}>; rel="${rel}"`;
  };
  const links: string[] = [];
  if (page < last) links.push(link(page + 1, 'next'), link(last, 'last'));
  if (page > 1) links.push(link(page - 1, 'prev'), link(1, 'first'));
  return {
    status: 200,
    body: items.slice((page - 1) * perPage, page * perPage),
    headers: links.length ? { link: links.join(', ') } : {},
  };
}
