import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import * as path from 'node:path';
import { tempDir } from '../helpers/tmp.js';
import { startSlowLink, type SlowLink } from '../helpers/slowlink.js';
import { events, makeContext, RegistryProbe, runAction, testBed, uniqueRepo, type Env } from './harness.js';
import { REGISTRY_KINDS, registryOfKind } from './registries.js';

const MiB = 1024 * 1024;
let bed: Env;
let links: Partial<Record<(typeof REGISTRY_KINDS)[number], SlowLink>> = {};

beforeAll(async () => {
  bed = testBed();
  // 100 MiB at 16 MiB/s: about 6 s, as on a runner's network rather than localhost.
  links = {
    htpasswd: await startSlowLink(bed.reg1, 16 * MiB),
    token: await startSlowLink(bed.reg3, 16 * MiB),
  };
});
afterAll(async () => {
  await links.htpasswd?.close();
  await links.token?.close();
});

describe('progress of a long push, in the log at info level', () => {
  it.each(REGISTRY_KINDS)(
    'a 100 MiB push to two registries prints bytes done, total and rate before it finishes (%s registry first)',
    async (kind) => {
      const reg = registryOfKind(bed, kind);
      const link = links[kind]!;
      const repo = reg.repo('progress');
      const auth = [
        `- registry: ${link.host}`,
        `  username: ${reg.user}`,
        `  password: ${reg.pass}`,
        `- registry: ${bed.reg2}`,
        `  username: ${bed.reg2User}`,
        `  password: ${bed.reg2Pass}`,
      ].join('\n');
      const r = await runAction({
        event: events.branch('main'),
        inputs: {
          images: `${link.host}/${repo}\n${bed.reg2}/${repo}`,
          'registry-auth': auth,
          tags: 'type=raw,value=big',
          context: makeContext(100 * MiB),
        },
      });
      expect(r.code).toBe(0);
      const lines = r.log.split('\n');
      const firstPushed = lines.findIndex((l) => l.startsWith('Pushed '));
      expect(firstPushed).toBeGreaterThan(0);
      const before = lines.slice(0, firstPushed);
      const esc = (s: string) => s.replace(/[.]/g, '\\.');
      const figure = (what: string) =>
        `${what} \\d+\\.\\d of \\d+\\.\\d MiB( so far)? \\(\\d+\\.\\d MiB/s\\)`;
      // The layer: compressed of its size, and handed to each registry of what was compressed.
      const layer = new RegExp(
        `^Layer 1: ${figure('compressed')}; ${figure(`to ${esc(link.host)}`)}; ${figure(`to ${esc(bed.reg2)}`)}$`,
      );
      expect(before.filter((l) => layer.test(l)).length).toBeGreaterThanOrEqual(1);
      expect(before.some((l) => new RegExp(`^Export from docker: ${figure('read')}$`).test(l))).toBe(true);
      expect(before.find((l) => l.startsWith('Layer 1:'))).toMatch(/ of 100\.0 MiB \(/);
      // Then one line per registry: what was sent, what was skipped, how long it took.
      for (const host of [link.host, bed.reg2])
        expect(before).toContainEqual(
          expect.stringMatching(
            new RegExp(
              `^${esc(host)}: 2 blobs sent \\(100\\.0 MiB\\) to ${repo}, 0 already there, in \\d+\\.\\d s$`,
            ),
          ),
        );
      // At most one line per task every few seconds: the first after 3 s, then one per 5 s at most.
      const took = Number(
        /, in (\d+(?:\.\d)?) s$/.exec(before.find((l) => l.startsWith(`${bed.reg2}:`))!)![1],
      );
      for (const task of ['Layer 1:', 'Export from docker:'])
        expect(before.filter((l) => l.startsWith(task)).length).toBeLessThanOrEqual(1 + Math.ceil(took / 5));
      const probe = new RegistryProbe(bed.reg2, bed.reg2User, bed.reg2Pass);
      expect(await probe.tags(repo)).toEqual(['big']);
    },
  );

  it.each(REGISTRY_KINDS)(
    'a small image is quiet: no progress lines, only the closing line per registry (%s registry)',
    async (kind) => {
      const reg = registryOfKind(bed, kind);
      const repo = reg.repo('progress');
      const r = await runAction({
        event: events.branch('main'),
        inputs: {
          images: `${reg.host}/${repo}`,
          registry: reg.host,
          username: reg.user,
          password: reg.pass,
          tags: 'type=raw,value=small',
          context: makeContext(),
        },
      });
      expect(r.code).toBe(0);
      expect(r.log).not.toMatch(/^(Layer \d+|Export from docker):/m);
      const closing = `${reg.host}: 2 blobs sent (0.0 MiB) to ${repo}, 0 already there, in `;
      expect(r.log.split('\n').some((l) => l.startsWith(closing))).toBe(true);
      expect(await reg.probe.tags(repo)).toEqual(['small']);
    },
  );

  it.each([
    ['the daemon push path (cache: false)', { cache: 'false' }, 'daemon push', 'app'],
    [
      'the build cache on: the unlabelled image pushed to its cache tag',
      {},
      'registry copy',
      'buildcache-branch-main',
    ],
  ])(
    "the daemon's own push of a new layer on a base prints bytes sent before it ends: %s",
    async (_name, extra, path_, pushedTag) => {
      // A link of its own at 2 MiB/s: the base (18 MiB) goes through it once, then the 8 MiB app
      // layer takes about 4 s, long enough for the first line (after 3 s).
      const link = await startSlowLink(bed.reg1, 2 * MiB);
      try {
        const cfg = tempDir('publish-image-basecfg');
        // Async: the slow link runs in this process and must keep relaying while docker waits.
        const docker = (args: string[], input = '') =>
          new Promise<void>((resolve, reject) => {
            const child = spawn('docker', args, { env: { ...process.env, DOCKER_CONFIG: cfg } });
            let said = '';
            child.stderr.on('data', (c: Buffer) => (said += c.toString()));
            child.stdout.resume();
            child.on('close', (code) =>
              code === 0 ? resolve() : reject(new Error(`docker ${args[0]}: ${said}`)),
            );
            child.stdin.end(input);
          });
        await docker(['login', '-u', bed.reg1User, '--password-stdin', link.host], bed.reg1Pass);
        const base = `${link.host}/${uniqueRepo('progress-base')}:1`;
        const baseCtx = tempDir('publish-image-base');
        writeFileSync(path.join(baseCtx, 'a.bin'), randomBytes(18 * MiB));
        writeFileSync(path.join(baseCtx, 'Dockerfile'), 'FROM scratch\nCOPY a.bin /a.bin\n');
        await docker(['build', '-q', '-t', base, baseCtx]);
        await docker(['push', base]);
        const ctx = tempDir('publish-image-app');
        writeFileSync(path.join(ctx, 'app.bin'), randomBytes(8 * MiB));
        writeFileSync(path.join(ctx, 'Dockerfile'), `FROM ${base}\nCOPY app.bin /app.bin\n`);
        const repo = uniqueRepo('progress');
        const r = await runAction({
          event: events.branch('main'),
          inputs: {
            images: `${link.host}/${repo}`,
            registry: link.host,
            username: bed.reg1User,
            password: bed.reg1Pass,
            tags: 'type=raw,value=app',
            context: ctx,
            ...extra,
          },
        });
        expect(r.code).toBe(0);
        if (process.env.PROGRESS_LOG) console.log(r.log);
        expect(r.log).toContain(`Publishing by ${path_}`);
        const lines = r.log.split('\n');
        const pushed = lines.findIndex((l) => l.startsWith('Pushed '));
        const ref = `${link.host}/${repo}:${pushedTag}`.replace(/[.]/g, '\\.');
        const progress = new RegExp(
          `^docker push ${ref}: sent \\d+\\.\\d of \\d+\\.\\d MiB \\(\\d+\\.\\d MiB/s\\)$`,
        );
        expect(lines.slice(0, pushed).filter((l) => progress.test(l)).length).toBeGreaterThanOrEqual(1);
      } finally {
        await link.close();
      }
    },
    180_000,
  );
});
