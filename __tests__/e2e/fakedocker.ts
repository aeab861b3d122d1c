/** A recording stand-in for docker's CLI and socket, for tests that prove what docker was asked. */
import { appendFileSync, chmodSync, existsSync, readFileSync, writeFileSync } from 'node:fs';
import { connect, createServer, type Socket } from 'node:net';
import * as path from 'node:path';
import { tempDir } from '../helpers/tmp.js';

export interface FakeDocker {
  /** Put first in PATH. */
  dir: string;
  /** One line per call: its arguments. Absent when docker was never called. */
  marker: string;
  /**
   * Every call `docker` got, in order: the CLI's arguments, and `API <METHOD> <path>` for each
   * request the action sent to the daemon's socket itself (the Engine API).
   */
  calls(): string[];
  /** PATH with the recording `docker` first and DOCKER_HOST on the recording socket. */
  env: Record<string, string>;
}

/**
 * A `docker` that records its arguments, then refuses the call (the default), or runs the real
 * one; and a unix socket in front of the daemon that records each Engine API request the action
 * makes there, then answers 503 (the default) or passes it on. The real CLI talks to the real
 * socket, so only the action's own API requests are recorded as API lines.
 */
export function fakeDocker(o: { passThrough?: boolean } = {}): FakeDocker {
  const dir = tempDir('publish-image-fakedocker');
  const marker = path.join(dir, 'calls');
  const real = (process.env.PATH ?? '')
    .split(':')
    .map((d) => path.join(d, 'docker'))
    .find((p) => existsSync(p));
  if (o.passThrough && !real) throw new Error('no docker in PATH');
  const daemon = process.env.DOCKER_HOST?.startsWith('unix://')
    ? process.env.DOCKER_HOST.slice('unix://'.length)
    : '/var/run/docker.sock';
  const lines = [
    '#!/bin/sh',
    `printf '%s\\n' "$*" >> '${marker}'`,
    o.passThrough
      ? `DOCKER_HOST='unix://${daemon}' exec '${real}' "$@"`
      : `echo 'fake docker: not allowed in this test' >&2; exit 1`,
  ];
  writeFileSync(path.join(dir, 'docker'), lines.join('\n') + '\n');
  chmodSync(path.join(dir, 'docker'), 0o755);
  const socket = path.join(dir, 'docker.sock');
  const server = createServer((client) => {
    let upstream: Socket | undefined;
    client.on('data', (chunk: Buffer) => {
      for (const m of chunk.toString('latin1').matchAll(/^(GET|HEAD|POST|PUT|DELETE) (\S+) HTTP\/1/gm))
        appendFileSync(marker, `API ${m[1]} ${m[2]}\n`);
      if (!o.passThrough) {
        client.end('HTTP/1.1 503 Service Unavailable\r\nContent-Length: 0\r\nConnection: close\r\n\r\n');
        return;
      }
      if (!upstream) {
        upstream = connect(daemon);
        upstream.pipe(client);
        upstream.on('error', () => client.destroy());
      }
      upstream.write(chunk);
    });
    client.on('error', () => upstream?.destroy());
    client.on('close', () => upstream?.end());
  });
  server.listen(socket);
  server.unref();
  return {
    dir,
    marker,
    calls: () => (existsSync(marker) ? readFileSync(marker, 'utf8').trim().split('\n') : []),
    env: { PATH: `${dir}:${process.env.PATH ?? '/usr/bin:/bin'}`, DOCKER_HOST: `unix://${socket}` },
  };
}
