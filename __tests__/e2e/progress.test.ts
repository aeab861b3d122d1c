import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { startSlowLink, type SlowLink } from '../helpers/slowlink.js';
import { events, makeContext, RegistryProbe, runAction, testBed, type Env } from './harness.js';
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
});
