/**
 * A fault-injecting HTTP reverse proxy for e2e tests: sits on 127.0.0.1:<random port> in
 * front of a real registry, streams bodies both ways, rewrites Location headers that point
 * at the registry, and answers requests matching a fault with a canned status or a reset.
 */
import http, { type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import { Transform } from 'node:stream';

export type FaultAction =
  | { status: number; headers?: Record<string, string>; body?: string }
  | 'reset'
  /** Passes the request on, then resets the connection once this many body bytes went through. */
  | { resetAfterBytes: number };

export interface Fault {
  method?: string;
  /** Tested against the request path including the query string. */
  path: RegExp;
  /** Tested against the User-Agent, when given (the docker daemon's starts with `docker/`). */
  agent?: RegExp;
  /** How many matching requests get the fault (then they pass through). */
  times: number;
  action: FaultAction;
}

export interface RecordedRequest {
  method: string;
  path: string;
  /** The client's User-Agent: the docker daemon's starts with `docker/`. */
  agent: string;
  /** Status sent to the client; 0 for a reset. */
  status: number;
  /** Request body bytes passed on to the registry (uploads), counted when it answered. */
  bytes?: number;
}

export interface FaultProxy {
  port: number;
  /** `127.0.0.1:<port>`, usable as a registry name. */
  host: string;
  addFault(f: Fault): void;
  clearFaults(): void;
  requests: RecordedRequest[];
  close(): Promise<void>;
}

export interface ProxyOptions {
  /** Request bodies reach the registry at most this fast: a slow uplink, so uploads take time. */
  bytesPerSecond?: number;
  /** Answers to matching requests are held back this long: a slow registry (time passes between requests). */
  slowAnswers?: { path: RegExp; method?: string; ms: number };
}

/** Passes bytes on no faster than `bytesPerSecond`, in small slices. */
function throttle(bytesPerSecond: number): Transform {
  const started = Date.now();
  let sent = 0;
  return new Transform({
    transform(chunk: Buffer, _enc, done) {
      const slices: Buffer[] = [];
      for (let at = 0; at < chunk.length; at += 16 * 1024) slices.push(chunk.subarray(at, at + 16 * 1024));
      const next = () => {
        const slice = slices.shift();
        if (!slice) return done();
        sent += slice.length;
        this.push(slice);
        setTimeout(next, Math.max(0, started + (sent / bytesPerSecond) * 1000 - Date.now()));
      };
      next();
    },
  });
}

export async function startFaultProxy(target: string, opts: ProxyOptions = {}): Promise<FaultProxy> {
  const faults: Fault[] = [];
  const requests: RecordedRequest[] = [];
  const sockets = new Set<Socket>();
  const agent = new http.Agent({ keepAlive: true });
  let self = '';

  const rewrite = (value: string): string =>
    value.replace(`http://${target}`, `http://${self}`).replace(`//${target}/`, `//${self}/`);

  const handle = (req: IncomingMessage, res: ServerResponse) => {
    const method = req.method ?? 'GET';
    const path = req.url ?? '/';
    const userAgent = req.headers['user-agent'] ?? '';
    let received = 0;
    req.on('data', (c: Buffer) => {
      received += c.length;
    });
    const fault = faults.find(
      (f) =>
        f.times > 0 &&
        (!f.method || f.method === method) &&
        f.path.test(path) &&
        (!f.agent || f.agent.test(userAgent)),
    );
    // A mid-body reset needs a body that long: a shorter one passes through, and the fault waits.
    const cutAt =
      fault && typeof fault.action === 'object' && 'resetAfterBytes' in fault.action
        ? fault.action.resetAfterBytes
        : undefined;
    if (fault && cutAt === undefined) {
      fault.times--;
      const action = fault.action as Exclude<FaultAction, { resetAfterBytes: number }>;
      if (action === 'reset') {
        requests.push({ method, path, agent: userAgent, status: 0 });
        // RST rather than FIN where Node supports it, so the client sees ECONNRESET.
        if (typeof req.socket.resetAndDestroy === 'function') req.socket.resetAndDestroy();
        else req.socket.destroy();
        return;
      }
      requests.push({ method, path, agent: userAgent, status: action.status });
      // Read the whole request body first, so the client is not writing into a closed socket.
      req.resume();
      req.on('end', () => {
        const body =
          action.body ?? JSON.stringify({ errors: [{ code: 'UNAVAILABLE', message: 'injected fault' }] });
        res.writeHead(action.status, {
          'Content-Type': 'application/json',
          'Content-Length': String(Buffer.byteLength(body)),
          ...action.headers,
        });
        res.end(method === 'HEAD' ? undefined : body);
      });
      return;
    }
    const headers = { ...req.headers, host: target };
    let cut = false;
    const upstream = http.request(
      { host: target.split(':')[0], port: Number(target.split(':')[1] ?? 80), method, path, headers, agent },
      (up) => {
        requests.push({ method, path, agent: userAgent, status: up.statusCode ?? 0, bytes: received });
        const out = { ...up.headers };
        if (typeof out.location === 'string') out.location = rewrite(out.location);
        const answer = () => {
          res.writeHead(up.statusCode ?? 502, up.statusMessage, out);
          up.pipe(res);
        };
        up.on('error', () => res.destroy());
        const slow = opts.slowAnswers;
        if (slow && (!slow.method || slow.method === method) && slow.path.test(path))
          setTimeout(answer, slow.ms);
        else answer();
      },
    );
    upstream.on('error', () => {
      if (cut) return;
      if (!res.headersSent) {
        requests.push({ method, path, agent: userAgent, status: 502 });
        res.writeHead(502).end();
      } else res.destroy();
    });
    req.on('aborted', () => upstream.destroy());
    res.on('close', () => {
      if (!res.writableFinished) upstream.destroy();
    });
    if (cutAt === undefined || !fault) {
      if (opts.bytesPerSecond) return void req.pipe(throttle(opts.bytesPerSecond)).pipe(upstream);
      return void req.pipe(upstream);
    }
    let seen = 0;
    req.on('data', (c: Buffer) => {
      if (cut) return;
      seen += c.length;
      if (seen <= cutAt || fault.times <= 0) return void upstream.write(c);
      cut = true;
      fault.times--;
      requests.push({ method, path, agent: userAgent, status: 0 });
      upstream.destroy();
      if (typeof req.socket.resetAndDestroy === 'function') req.socket.resetAndDestroy();
      else req.socket.destroy();
    });
    req.on('end', () => {
      if (!cut) upstream.end();
    });
  };

  const server = http.createServer(handle);
  server.on('connection', (s) => {
    sockets.add(s);
    s.on('close', () => sockets.delete(s));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as AddressInfo).port;
  self = `127.0.0.1:${port}`;
  return {
    port,
    host: self,
    addFault: (f) => faults.push({ ...f }),
    clearFaults: () => {
      faults.length = 0;
    },
    requests,
    close: async () => {
      for (const s of sockets) s.destroy();
      agent.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
