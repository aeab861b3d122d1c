import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { execFile, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { createWriteStream } from 'node:fs';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pipeline } from 'node:stream/promises';
import { Readable } from 'node:stream';
import { promisify } from 'node:util';
import { silentLogger } from '../../../src/log.js';
import { RegistryClient } from '../../../src/registry/client.js';
import { staticCredentials } from '../../../src/registry/credentials.js';
import { pushSavedImage } from '../../../src/engine/upload.js';

/** Opt-in (slow: builds and pushes a 300 MB image): REGISTRY_E2E_BIG=1. */
const env = process.env;
const enabled = env.REGISTRY_E2E_BIG === '1' && Boolean(env.REG1 && env.REG2 && env.DOCKER_HOST);
const run = promisify(execFile);
const MB = 1024 * 1024;

if (!enabled) {
  describe('pushSavedImage with a 300 MB image', () => {
    it.skip('is opt-in: set REGISTRY_E2E_BIG=1 (and source /tmp/publish-image-env/env)', () => {});
  });
} else {
  describe('pushSavedImage with a 300 MB image', () => {
    const tag = `registry-e2e-big-${Date.now().toString(36)}:latest`;
    let work = '';

    beforeAll(async () => {
      work = await mkdtemp(join(tmpdir(), 'registry-big-'));
      const ctx = join(work, 'ctx');
      await run('mkdir', ['-p', ctx]);
      // Incompressible, so the gzipped layer is as large as the image.
      await pipeline(
        Readable.from(
          (function* () {
            for (let i = 0; i < 300; i++) yield randomBytes(MB);
          })(),
        ),
        createWriteStream(join(ctx, 'big.bin')),
      );
      await writeFile(join(ctx, 'Dockerfile'), 'FROM scratch\nCOPY big.bin /big.bin\n');
      await run('docker', ['build', '-q', '-t', tag, ctx], { env: { ...env, DOCKER_BUILDKIT: '0' } });
      await rm(ctx, { recursive: true, force: true });
    }, 300_000);

    afterAll(async () => {
      await run('docker', ['rmi', '-f', tag]).catch(() => {});
      if (work) await rm(work, { recursive: true, force: true });
    });

    it('streams it to two registries with flat memory', async () => {
      global.gc?.();
      const baseline = process.memoryUsage().rss;
      let peak = baseline;
      const timer = setInterval(() => {
        peak = Math.max(peak, process.memoryUsage().rss);
      }, 50);
      const clients = [
        new RegistryClient({
          registry: env.REG1!,
          credentials: staticCredentials({
            [env.REG1!]: { username: env.REG1_USER!, password: env.REG1_PASS! },
          }),
          log: silentLogger,
        }),
        new RegistryClient({
          registry: env.REG2!,
          credentials: staticCredentials({
            [env.REG2!]: { username: env.REG2_USER!, password: env.REG2_PASS! },
          }),
          log: silentLogger,
        }),
      ];
      try {
        const child = spawn('docker', ['save', tag], { stdio: ['ignore', 'pipe', 'inherit'] });
        const pushed = await pushSavedImage(
          child.stdout,
          clients.map((client) => ({ client, repo: 'e2e/big' })),
          {
            tmpDir: work,
            log: silentLogger,
          },
        );
        expect(pushed.size).toBeGreaterThan(0);
        for (const c of clients)
          expect((await c.headManifest('e2e/big', pushed.digest))?.digest).toBe(pushed.digest);
      } finally {
        clearInterval(timer);
        for (const c of clients) c.close();
      }
      const grew = (peak - baseline) / MB;
      process.stdout.write(
        `rss baseline ${(baseline / MB).toFixed(0)} MB, peak ${(peak / MB).toFixed(0)} MB (+${grew.toFixed(0)} MB)\n`,
      );
      expect(grew).toBeLessThan(100);
    }, 300_000);
  });
}
