/**
 * A TCP proxy on 127.0.0.1:<random port> that passes uploads to a registry at a set rate, as a
 * real network would: localhost moves 100 MiB in a second or two, a runner's uplink takes many.
 * Downloads pass at full speed.
 */
import net, { type AddressInfo, type Socket } from 'node:net';

export interface SlowLink {
  /** `127.0.0.1:<port>`, usable as a registry name. */
  host: string;
  close(): Promise<void>;
}

export async function startSlowLink(target: string, bytesPerSecond: number): Promise<SlowLink> {
  const [targetHost, targetPort] = [
    target.slice(0, target.lastIndexOf(':')),
    target.slice(target.lastIndexOf(':') + 1),
  ];
  const sockets = new Set<Socket>();
  const server = net.createServer((client) => {
    const upstream = net.connect(Number(targetPort), targetHost);
    for (const s of [client, upstream]) {
      sockets.add(s);
      s.on('close', () => sockets.delete(s));
      s.on('error', () => {
        client.destroy();
        upstream.destroy();
      });
    }
    // Client to registry: each chunk, then a pause as long as the chunk takes at the rate.
    client.on('data', (chunk: Buffer) => {
      upstream.write(chunk);
      client.pause();
      setTimeout(() => client.resume(), (chunk.length / bytesPerSecond) * 1000);
    });
    client.on('end', () => upstream.end());
    upstream.pipe(client);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    host: `127.0.0.1:${port}`,
    close: async () => {
      for (const s of sockets) s.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
