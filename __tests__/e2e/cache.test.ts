/**
 * The build cache as CI jobs meet it: every job on an emptied daemon (no images, no build
 * cache, as a hosted runner starts), a project whose base image is in the registry, a slow
 * dependency step, and a pull request that changes only src/. Run with the classic builder and
 * with BuildKit.
 */
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdirSync, writeFileSync } from 'node:fs';
import * as path from 'node:path';
import {
  DOCKER_20,
  RegistryProbe,
  buildKitEnv,
  events,
  expectNoLeak,
  registryAuthOf,
  reg1Inputs,
  runAction,
  secretForms,
  testBed,
  type Env,
  type Event,
} from './harness.js';
import { tempDir } from '../helpers/tmp.js';

let bed: Env;
let probe: RegistryProbe;
let base: string;
const saved = path.join(tempDir('publish-image-cache-saved'), 'busybox.tar');
const docker = (...args: string[]) => execFileSync('docker', args, { encoding: 'utf8' }).trim();

/** A hosted runner's daemon: no image and no build cache of either builder; local/busybox back. */
function emptyDaemon(): void {
  execFileSync(DOCKER_20, ['system', 'prune', '-af'], { env: { ...process.env, DOCKER_BUILDKIT: '1' } });
  execFileSync(DOCKER_20, ['builder', 'prune', '-af'], { env: { ...process.env, DOCKER_BUILDKIT: '1' } });
  const ids = docker('image', 'ls', '-aq');
  if (ids) execFileSync('docker', ['rmi', '-f', ...new Set(ids.split('\n'))]);
  docker('load', '-i', saved);
}

beforeAll(() => {
  bed = testBed();
  probe = new RegistryProbe(bed.reg1, bed.reg1User, bed.reg1Pass);
  docker('save', '-o', saved, 'local/busybox:latest');
  // The company base image, in the registry: every job pulls it.
  const config = tempDir('publish-image-cache-login');
  const env = { ...process.env, DOCKER_CONFIG: config };
  execFileSync('docker', ['login', '-u', bed.reg1User, '--password-stdin', bed.reg1], {
    input: bed.reg1Pass,
    env,
  });
  base = `${bed.reg1}/cachebase/busybox:1`;
  docker('tag', 'local/busybox:latest', base);
  execFileSync('docker', ['push', base], { env });
});

afterAll(() => {
  docker('image', 'inspect', 'local/busybox:latest');
  // The emptied daemons' images were removed under BuildKit's cache records: a later BuildKit
  // build (the demo's) could fail with "extract requires an applier". Leave its cache empty.
  execFileSync(DOCKER_20, ['builder', 'prune', '-af'], { env: { ...process.env, DOCKER_BUILDKIT: '1' } });
});

/** The project: deps.txt feeds the slow step, src/ the fast one; `stamp` proves a step re-ran. */
function project(o: { multiStage?: boolean; src?: string; deps?: string; from?: string } = {}): string {
  const base_ = o.from ?? base;
  const dir = tempDir('publish-image-cache-ctx');
  mkdirSync(path.join(dir, 'src'));
  writeFileSync(path.join(dir, 'deps.txt'), o.deps ?? 'left-pad 1.3.0\n');
  writeFileSync(path.join(dir, 'src', 'app.txt'), o.src ?? 'v1\n');
  // The slow step (npm ci's stand-in) writes a value of its own run: the same layer twice means
  // it ran once.
  const slow = 'RUN sleep 2 && cat /proc/sys/kernel/random/uuid > /deps.stamp';
  const dockerfile = o.multiStage
    ? [
        // A build stage as Node or Go projects have one: its slow step is in no layer of the
        // final image, so BuildKit's inline cache alone would run it again on every change.
        `FROM ${base_} AS deps`,
        'COPY deps.txt /deps.txt',
        slow,
        'COPY src/ /src/',
        'RUN busybox wc -c /src/app.txt > /build.txt',
        `FROM ${base_}`,
        'COPY --from=deps /deps.stamp /deps.stamp',
        'COPY --from=deps /build.txt /build.txt',
      ]
    : [
        `FROM ${base_}`,
        'COPY deps.txt /deps.txt',
        slow,
        'COPY src/ /src/',
        'RUN busybox wc -c /src/app.txt > /build.txt',
      ];
  writeFileSync(path.join(dir, 'Dockerfile'), dockerfile.join('\n') + '\n');
  return dir;
}

const BUILDERS = [
  ['the classic builder', () => ({ PATH: process.env.PATH ?? '/usr/bin:/bin' })],
  ['BuildKit', () => buildKitEnv()],
] as const;

describe.each(BUILDERS)('the build cache with %s, each job on an emptied daemon', (_name, builderEnv) => {
  const job = (repo: string, event: Event, inputs: Record<string, string>) => {
    emptyDaemon();
    return runAction({
      event,
      env: builderEnv(),
      secrets: secretForms(bed.reg1User, bed.reg1Pass),
      inputs: {
        ...reg1Inputs(bed, repo),
        ...inputs,
      },
    });
  };
  /** The image's layers (diff ids) under a tag: equal ids are equal layers. */
  const layers = async (repo: string, tag: string) =>
    ((await probe.config(repo, tag)).rootfs.diff_ids as string[]) ?? [];
  const fromCache = (log: string, what = 'the image') =>
    new RegExp(`(\\d+) of (\\d+) RUN/COPY/ADD steps of ${what} came from the cache`)
      .exec(log)
      ?.slice(1)
      .map(Number);

  it('main, then a pull request that changes src/: the slow step runs once; main again re-runs nothing; closing the PR removes its cache', async () => {
    const repo = `cache/r${randomBytes(4).toString('hex')}`;
    const main = await job(repo, events.branch('main'), { context: project() });
    expect(main.code).toBe(0);
    expect(main.log).toMatch(/Build cache: none yet in buildcache-branch-main \(a first run builds cold\)/);
    expect(await probe.allTags(repo)).toContain('buildcache-branch-main');
    expectNoLeak(main, secretForms(bed.reg1User, bed.reg1Pass));

    const pr = await job(repo, events.pr(7, false), { context: project({ src: 'v2\n' }) });
    expect(pr.code).toBe(0);
    expect(pr.log).toContain(`Build cache for the image: ${bed.reg1}/${repo}:buildcache-branch-main`);
    const [mainLayers, prLayers] = [await layers(repo, 'main'), await layers(repo, 'pr-7')];
    // base, COPY deps.txt, the slow RUN: the same layers; COPY src/ and the last RUN: new.
    expect(prLayers.slice(0, 3)).toEqual(mainLayers.slice(0, 3));
    expect(prLayers[3]).not.toBe(mainLayers[3]);
    expect(fromCache(pr.log)).toEqual([2, 4]);
    expect(pr.summary).toContain('**Build cache:**');
    expect(await probe.allTags(repo)).toContain('buildcache-pr-7');

    const again = await job(repo, events.branch('main'), { context: project() });
    expect(again.code).toBe(0);
    expect(fromCache(again.log)).toEqual([4, 4]);
    expect((await layers(repo, 'main')).slice(0, 5)).toEqual(mainLayers.slice(0, 5));

    const closed = await runAction({
      event: { ...events.pr(7, false), payload: { ...events.pr(7, false).payload, action: 'closed' } },
      env: { GITHUB_API_URL: 'http://127.0.0.1:9' }, // no API: only the pr- tag rules matter here
      inputs: {
        ...reg1Inputs(bed, repo),
      },
    });
    expect(closed.code).toBe(0);
    const left = await probe.allTags(repo);
    expect(left.filter((t) => t.startsWith('buildcache-pr-7'))).toEqual([]);
    expect(left).toContain('buildcache-branch-main');
  }, 240_000);

  it('a multi-stage build: the builder stage is cached whole, its output identical; one entry per stage after several pushes', async () => {
    const repo = `cache/m${randomBytes(4).toString('hex')}`;
    const first = await job(repo, events.branch('main'), { context: project({ multiStage: true }) });
    expect(first.code).toBe(0);
    expect(await probe.allTags(repo)).toEqual(
      expect.arrayContaining(['buildcache-branch-main', 'buildcache-branch-main--deps']),
    );
    const oldDeps = (await probe.manifest(repo, 'buildcache-branch-main--deps'))!.digest;

    const pr = await job(repo, events.pr(8, false), { context: project({ multiStage: true, src: 'v2\n' }) });
    expect(pr.code).toBe(0);
    expect(fromCache(pr.log, 'stage deps')).toEqual([2, 4]); // COPY deps.txt and the slow RUN
    // The slow step's output, copied into the image, is the one main's job made.
    expect((await layers(repo, 'pr-8'))[1]).toBe((await layers(repo, 'main'))[1]);

    // New dependencies on main: the deps entry is replaced. The first one stays where pr-8's
    // entry names the same manifest; one that only main named is deleted.
    const second = await job(repo, events.branch('main'), {
      context: project({ multiStage: true, deps: 'b\n' }),
    });
    expect(second.code).toBe(0);
    const prDeps = (await probe.manifest(repo, 'buildcache-pr-8--deps'))!.digest;
    expect(second.log).toContain(
      prDeps === oldDeps
        ? `replaced ${oldDeps}, kept: another cache entry names it`
        : `replaced ${oldDeps}, deleted`,
    );
    const secondDeps = (await probe.manifest(repo, 'buildcache-branch-main--deps'))!.digest;
    const third = await job(repo, events.branch('main'), {
      context: project({ multiStage: true, deps: 'c\n' }),
    });
    expect(third.code).toBe(0);
    const tags = await probe.allTags(repo);
    expect(tags.filter((t) => t.startsWith('buildcache-branch-main')).sort()).toEqual([
      'buildcache-branch-main',
      'buildcache-branch-main--deps',
    ]);
    expect(await probe.manifest(repo, secondDeps)).toBeUndefined(); // reg1 allows deletes
    expect(third.log).toContain(`replaced ${secondDeps}, deleted`);
  }, 300_000);

  it("a pull request's cache never serves the default branch, even with a planted image under its tag", async () => {
    const repo = `cache/p${randomBytes(4).toString('hex')}`;
    const context = project();
    // Someone with push rights plants an image made by the same Dockerfile under pr-9's tags.
    const planted = await job(repo, events.pr(9, false), { context });
    expect(planted.code).toBe(0);
    const poisoned = await layers(repo, 'buildcache-pr-9');
    const main = await job(repo, events.branch('main'), { context });
    expect(main.code).toBe(0);
    expect(main.log).not.toContain('buildcache-pr-9');
    expect(main.log).toMatch(/Build cache: none yet/);
    expect((await layers(repo, 'main'))[2]).not.toBe(poisoned[2]); // the slow step ran again
  }, 180_000);
});

describe('cache inputs (classic builder, emptied daemon)', () => {
  const classic = () => ({ PATH: process.env.PATH ?? '/usr/bin:/bin' });
  const run = (repo: string, inputs: Record<string, string>, event = events.branch('main')) => {
    emptyDaemon();
    return runAction({
      event,
      env: classic(),
      inputs: {
        ...reg1Inputs(bed, repo),
        ...inputs,
      },
    });
  };

  it('cache-from an image the daemon does not hold is pulled and used; cache: false builds cold', async () => {
    const source = `cache/s${randomBytes(4).toString('hex')}`;
    const context = project();
    expect((await run(source, { context })).code).toBe(0);
    const made = (await probe.config(source, 'main')).rootfs.diff_ids as string[];

    const other = `cache/o${randomBytes(4).toString('hex')}`;
    const r = await run(other, { context, cache: 'false', 'cache-from': `${bed.reg1}/${source}:main` });
    expect(r.code).toBe(0);
    expect(r.log).toContain('Build cache: off (input cache: false)');
    expect(((await probe.config(other, 'main')).rootfs.diff_ids as string[])[2]).toBe(made[2]);
    expect((await probe.allTags(other)).filter((t) => t.startsWith('buildcache-'))).toEqual([]);

    const cold = await run(source, { context, cache: 'false' });
    expect(cold.code).toBe(0);
    expect(((await probe.config(source, 'main')).rootfs.diff_ids as string[])[2]).not.toBe(made[2]);
  }, 180_000);

  it('a registry with deletes disabled keeps a replaced stage entry, and the log says so', async () => {
    const reg2 = new RegistryProbe(bed.reg2, bed.reg2User, bed.reg2Pass);
    const repo = `cache/d${randomBytes(4).toString('hex')}`;
    const onReg2 = (deps: string) => {
      emptyDaemon();
      return runAction({
        event: events.branch('main'),
        env: classic(),
        inputs: {
          images: `${bed.reg2}/${repo}`,
          'registry-auth': registryAuthOf(bed), // the base image is on reg1
          context: project({ multiStage: true, deps }),
        },
      });
    };
    expect((await onReg2('a\n')).code).toBe(0);
    const old = (await reg2.manifest(repo, 'buildcache-branch-main--deps'))!.digest;
    const second = await onReg2('b\n');
    expect(second.code).toBe(0);
    expect(second.log).toContain(`replaced ${old}, kept: the registry has deletes disabled (405)`);
    // The base is on reg1: the daemon would not push to reg2 by itself, so a LABEL step.
    expect(second.log).not.toContain('Labels written into the config');
    expect(await reg2.manifest(repo, old)).toBeDefined();
    expect((await reg2.allTags(repo)).filter((t) => t.startsWith('buildcache-'))).toEqual([
      'buildcache-branch-main',
      'buildcache-branch-main--deps',
    ]);
  }, 180_000);

  it('labels go into the config with no LABEL step: the unlabelled image goes to the cache tag first, the labelled one is published from there and the unlabelled manifest deleted', async () => {
    const repo = `cache/l${randomBytes(4).toString('hex')}`;
    const r = await run(repo, { context: project() });
    expect(r.code).toBe(0);
    expect(r.log).toMatch(
      /Labels written into the config \(no LABEL step\): sha256:[0-9a-f]{64}, beside the unlabelled image pushed to .*:buildcache-branch-main/,
    );
    expect(r.log).toContain(`Publishing by registry copy: the build put its blobs in ${bed.reg1}/${repo}`);
    expect(r.log).not.toMatch(/docker build --quiet --force-rm --file -/); // no LABEL step
    // The base was fetched before the build (bases.ts), beside the logins: the build found it.
    expect(r.log).toContain(`docker pull ${base} (Engine API)`);
    expect(r.log).not.toMatch(/Pulling from cachebase\/busybox/);
    // What the push of the unlabelled image sent is still told: COPY deps.txt, the slow RUN,
    // COPY src/ and the last RUN were new; the base's layer was mounted from its repository.
    expect(r.log).toMatch(/Layers: 127\.0\.0\.1:\d+: 1 layer \([^)]*\) mounted, 4 layers \([^)]*\) uploaded/);

    const main = await probe.manifest(repo, 'main');
    const config = await probe.config(repo, 'main');
    expect(config.config.Labels).toMatchObject({
      'org.opencontainers.image.revision': expect.stringMatching(/^[0-9a-f]{40}$/),
      'org.opencontainers.image.source': expect.any(String),
    });
    const last = (config.history as Record<string, unknown>[]).at(-1)!;
    expect(last).toMatchObject({ comment: 'publish-image', empty_layer: true });
    expect(String(last.created_by)).toMatch(/^LABEL org\.opencontainers\.image\./);
    // Five layers, one history entry each but the labels' (and the base's own non-layer ones).
    expect((config.rootfs.diff_ids as string[]).length).toBe(5);

    // The daemon holds the same image under the local tags, by the same config.
    const local = JSON.parse(docker('image', 'inspect', `${bed.reg1}/${repo}:main`))[0];
    expect(local.Id).toBe(main!.body.config.digest);
    expect(local.Config.Labels['org.opencontainers.image.revision']).toBe(
      config.config.Labels['org.opencontainers.image.revision'],
    );

    // The cache tag names the published manifest; the unlabelled one is gone (reg1 deletes).
    expect((await probe.manifest(repo, 'buildcache-branch-main'))!.digest).toBe(main!.digest);
    const unlabelled =
      /replaced (sha256:[0-9a-f]{64}) \(the unlabelled image pushed before the publish\), deleted/.exec(
        r.log,
      )?.[1];
    expect(unlabelled).toBeDefined();
    expect(await probe.manifest(repo, unlabelled!)).toBeUndefined();

    // The next job's build reads that entry: the slow step is not run again.
    const again = await run(repo, { context: project() });
    expect(again.code).toBe(0);
    expect(again.log).toMatch(/4 of 4 RUN\/COPY\/ADD steps of the image came from the cache/);
    expect(((await probe.config(repo, 'main')).rootfs.diff_ids as string[])[2]).toBe(
      config.rootfs.diff_ids[2],
    );

    // Without a cache to write there is no push before the publish: one LABEL step instead.
    const off = await run(repo, { context: project(), cache: 'false' });
    expect(off.code).toBe(0);
    expect(off.log).not.toContain('Labels written into the config');
    expect(
      (await probe.config(repo, 'main')).config.Labels['org.opencontainers.image.revision'],
    ).toBeDefined();
  }, 180_000);

  it('a registry with deletes disabled: labels by a LABEL step, no unlabelled image pushed first', async () => {
    const reg2 = new RegistryProbe(bed.reg2, bed.reg2User, bed.reg2Pass);
    const repo = `cache/n${randomBytes(4).toString('hex')}`;
    // The base on reg2 too, so that the daemon would push there itself.
    const config = tempDir('publish-image-cache-login2');
    const env = { ...process.env, DOCKER_CONFIG: config };
    execFileSync('docker', ['login', '-u', bed.reg2User, '--password-stdin', bed.reg2], {
      input: bed.reg2Pass,
      env,
    });
    const base2 = `${bed.reg2}/cachebase/busybox:1`;
    docker('tag', 'local/busybox:latest', base2);
    execFileSync('docker', ['push', base2], { env });
    emptyDaemon();
    const r = await runAction({
      event: events.branch('main'),
      env: classic(),
      inputs: {
        images: `${bed.reg2}/${repo}`,
        'registry-auth': registryAuthOf(bed),
        context: project({ from: base2 }),
      },
    });
    expect(r.code).toBe(0);
    expect(r.log).toContain(
      `Labels by a LABEL step: ${bed.reg2} does not let the step delete the unlabelled manifest it would push first`,
    );
    expect(r.log).not.toContain('Labels written into the config');
    const main = (await reg2.manifest(repo, 'main'))!;
    expect((await reg2.manifest(repo, 'buildcache-branch-main'))!.digest).toBe(main.digest);
    expect(
      (await reg2.config(repo, 'main')).config.Labels['org.opencontainers.image.revision'],
    ).toBeDefined();
  }, 120_000);

  it('an unreadable cache source is a warning, and the build goes on cold', async () => {
    const repo = `cache/u${randomBytes(4).toString('hex')}`;
    const r = await run(repo, { context: project(), 'cache-from': '127.0.0.1:9/nowhere/app:main' });
    expect(r.code).toBe(0);
    expect(r.log).toMatch(
      /::warning::Build cache 127\.0\.0\.1:9\/nowhere\/app:main could not be pulled, building without it/,
    );
    expect(await probe.allTags(repo)).toContain('main');
  }, 120_000);
});
