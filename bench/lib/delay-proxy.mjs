// A registry some tens of milliseconds away, as GHCR or Docker Hub are from a runner: a TCP
// proxy on 127.0.0.1 that holds every chunk `delayMs` before passing it on, in each direction,
// and every new connection `delayMs` before it is opened upstream (a local registry answers in
// well under a millisecond and hides every extra round trip). Order is kept: all chunks wait the
// same time, and timers of one duration fire in the order they were set. Bounded: at most
// `maxConnections` at once (more are refused), and it closes itself after `maxMs` or on close().
import * as net from 'node:net';
import { clearTimeout, setTimeout } from 'node:timers';

/**
 * Starts the proxy in front of `target` (host:port). Resolves with its own host:port, counters
 * and close().
 */
export function delayProxy(target, { delayMs = 20, maxMs = 3 * 3600_000, maxConnections = 512 } = {}) {
  const [targetHost, targetPort] = [
    target.slice(0, target.lastIndexOf(':')),
    Number(target.split(':').pop()),
  ];
  const sockets = new Set();
  const counts = { connections: 0, refused: 0, chunksUp: 0, chunksDown: 0, bytesUp: 0, bytesDown: 0 };
  let closed = false;

  /** Relays `from` to `to`, each chunk and the end `delayMs` later. */
  const pipeDelayed = (from, to, dir) => {
    from.on('data', (chunk) => {
      counts[`chunks${dir}`]++;
      counts[`bytes${dir}`] += chunk.length;
      setTimeout(() => {
        if (!to.destroyed) to.write(chunk);
      }, delayMs);
    });
    from.on('end', () => setTimeout(() => to.destroyed || to.end(), delayMs));
  };

  const server = net.createServer((client) => {
    if (closed || sockets.size >= maxConnections * 2) {
      counts.refused++;
      client.destroy();
      return;
    }
    counts.connections++;
    client.pause();
    sockets.add(client);
    const upstream = new net.Socket();
    sockets.add(upstream);
    const gone = () => {
      client.destroy();
      upstream.destroy();
      sockets.delete(client);
      sockets.delete(upstream);
    };
    client.on('error', gone);
    upstream.on('error', gone);
    client.on('close', () => setTimeout(gone, delayMs));
    upstream.on('close', () => setTimeout(gone, delayMs));
    // The connection's set-up: one more delay before the far end answers.
    setTimeout(() => {
      if (client.destroyed) return gone();
      upstream.connect(targetPort, targetHost, () => {
        pipeDelayed(client, upstream, 'Up');
        pipeDelayed(upstream, client, 'Down');
        client.resume();
      });
    }, delayMs);
  });

  const close = () =>
    new Promise((resolve) => {
      if (closed) return resolve();
      closed = true;
      clearTimeout(lifetime);
      for (const s of sockets) s.destroy();
      sockets.clear();
      server.close(() => resolve());
    });
  const lifetime = setTimeout(() => void close(), maxMs);
  lifetime.unref();

  return new Promise((resolve, reject) => {
    server.on('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address();
      resolve({ host: `127.0.0.1:${port}`, delayMs, counts, close });
    });
  });
}
