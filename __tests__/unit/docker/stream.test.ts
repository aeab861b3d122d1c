import { afterAll, describe, expect, it } from '@jest/globals';
import { chmodSync, existsSync, writeFileSync } from 'node:fs';
import * as path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { Docker, DockerError } from '../../../src/docker/cli.js';
import { tempDir } from '../../helpers/tmp.js';

// A `docker` of our own first in PATH: the real @actions/exec runs it, through the named pipe.
const bin = tempDir('fake-docker-bin');
const marker = path.join(bin, 'finished');
writeFileSync(
  path.join(bin, 'docker'),
  [
    '#!/bin/sh',
    'if [ "$2" = missing ]; then echo "Error response from daemon: No such image: missing" >&2; exit 3; fi',
    `head -c 8388608 /dev/zero && touch '${marker}'`,
  ].join('\n'),
);
chmodSync(path.join(bin, 'docker'), 0o755);
const savedPath = process.env.PATH;
process.env.PATH = `${bin}:${savedPath}`;
afterAll(() => {
  process.env.PATH = savedPath;
});

const log = { debug: () => {}, info: () => {}, warning: () => {} };

describe('Docker.stream: docker save read with backpressure through @actions/exec', () => {
  it('docker waits while the reader pauses, and every byte arrives once it reads on', async () => {
    const { stdout, done } = await new Docker(log).stream(['save', 'x']);
    const it = stdout[Symbol.asyncIterator]();
    let got = ((await it.next()).value as Buffer).length;
    await sleep(400); // not reading: the pipe fills and docker blocks
    expect(existsSync(marker)).toBe(false);
    for (let n = await it.next(); !n.done; n = await it.next()) got += (n.value as Buffer).length;
    await done;
    expect(got).toBe(8 * 1024 * 1024);
    expect(existsSync(marker)).toBe(true);
  });

  it('a docker that fails ends the stream, never leaves it waiting, and rejects with what it said', async () => {
    const { stdout, done } = await new Docker(log).stream(['save', 'missing']);
    const reading = (async () => {
      for await (const _ of stdout) void _;
    })();
    const err = await done.catch((e: unknown) => e);
    expect(err).toBeInstanceOf(DockerError);
    expect((err as DockerError).exitCode).toBe(3);
    expect((err as DockerError).stderr).toMatch(/No such image: missing/);
    // The reader is never left waiting: it ends (docker closed the pipe) or fails with docker's words.
    const ended = await reading.then(
      () => 'ended',
      (e: unknown) => String(e),
    );
    expect(ended).toMatch(/^ended$|No such image/);
  });
});
