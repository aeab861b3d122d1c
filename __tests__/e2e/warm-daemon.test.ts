/**
 * Multi-platform builds of a Dockerfile like most real ones (metadata steps before and between
 * file steps) with the classic builder, run again on the same daemon: the second run finds the
 * other platform's images of the same Dockerfile in the daemon and its cache, as a self-hosted
 * runner's warm daemon does. Every result is read back with skopeo, per platform.
 */
import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import * as path from 'node:path';
import { promisify } from 'node:util';
import { beforeAll, describe, expect, it } from '@jest/globals';
import {
  events,
  expectNoLeak,
  makeContext,
  runAction,
  secretForms,
  twoRegistries,
  type Env,
} from './harness.js';
import { REGISTRY_KINDS, registryAuthFor, registryOfKind, type RegistryUnderTest } from './registries.js';
import { Skopeo } from './skopeo.js';

const run = promisify(execFile);

const DOCKERFILE = [
  'FROM scratch',
  'ARG VERSION=dev',
  'LABEL org.example.flavour="real"',
  'COPY payload.bin /payload.bin',
  'ENV APP_HOME=/app',
  'WORKDIR /app',
  'LABEL org.example.version=$VERSION',
  'COPY second.bin /app/second.bin',
  '',
].join('\n');

let bed: Env;
let secrets: string[];
let skopeo: Skopeo;
/** The registry each flow pushes to first (htpasswd reg1 or the token registry), reg2 beside it. */
let reg: RegistryUnderTest;
const secretsOf = (first: RegistryUnderTest) => [...secrets, ...secretForms(first.user, first.pass)];

beforeAll(() => {
  ({ bed, secrets } = twoRegistries());
  skopeo = new Skopeo(bed);
});

/** A build context with that Dockerfile and two files of fresh bytes. */
function realContext(): string {
  const dir = makeContext(3000, DOCKERFILE);
  writeFileSync(path.join(dir, 'second.bin'), randomBytes(2000));
  return dir;
}

function publish(repo: string, inputs: Record<string, string>, tag = 'v1.0.0') {
  return runAction({
    event: events.tag(tag),
    secrets: secretsOf(reg),
    inputs: {
      images: `${reg.host}/${repo}\n${bed.reg2}/${repo}`,
      'registry-auth': registryAuthFor([reg, { host: bed.reg2, user: bed.reg2User, pass: bed.reg2Pass }]),
      'build-args': 'VERSION=1.0.0',
      ...inputs,
    },
  });
}

/** What the Dockerfile put in the config, checked for one architecture of `ref`. */
async function expectBuiltFor(ref: string, arch: string): Promise<void> {
  const config = await skopeo.config(ref, arch);
  expect(`${config.os}/${config.architecture}`).toBe(`linux/${arch}`);
  expect(config.config.Labels).toMatchObject({
    'org.example.flavour': 'real',
    'org.example.version': '1.0.0',
    'org.opencontainers.image.version': expect.any(String),
  });
  expect(config.config.Env).toContain('APP_HOME=/app');
  expect(config.config.WorkingDir).toBe('/app');
  expect(config.rootfs.diff_ids).toHaveLength(3); // two COPYs and WORKDIR's directory
}

/** The index under `ref` names exactly these platforms, each an image of that architecture. */
async function expectIndexOf(ref: string, arches: string[]): Promise<void> {
  const index = await skopeo.raw(ref);
  expect(index.mediaType).toBe('application/vnd.oci.image.index.v1+json');
  const listed = index.manifests.map((m: any) => `${m.platform.os}/${m.platform.architecture}`).sort();
  expect(listed).toEqual(arches.map((a) => `linux/${a}`).sort());
  for (const arch of arches) await expectBuiltFor(ref, arch);
}

describe.each(REGISTRY_KINDS)(
  'real Dockerfiles on a warm daemon (classic builder; %s registry first)',
  (kind) => {
    beforeAll(() => {
      reg = registryOfKind(bed, kind);
    });

    it('builds both platforms of ARG/LABEL/ENV/WORKDIR around COPY steps, twice on one daemon', async () => {
      const context = realContext();
      for (const [round, platforms] of [
        [1, 'linux/amd64,linux/arm64'],
        [2, 'linux/arm64,linux/amd64'], // the other order: the cache now holds both platforms
      ] as const) {
        const repo = reg.repo('warm');
        const r = await publish(repo, { context, platforms });
        expect({ round, code: r.code, log: r.code ? r.log : '' }).toEqual({ round, code: 0, log: '' });
        for (const host of [reg.host, bed.reg2]) {
          for (const tag of ['1.0.0', 'latest'])
            await expectIndexOf(`${host}/${repo}:${tag}`, ['amd64', 'arm64']);
        }
        expectNoLeak(r, secretsOf(reg));
      }
    });

    it('pushes each platform by digest and merges them, twice on one daemon', async () => {
      const context = realContext();
      for (const round of [1, 2]) {
        const repo = reg.repo('warmleg');
        const digests: string[] = [];
        for (const arch of round === 1 ? ['arm64', 'amd64'] : ['amd64', 'arm64']) {
          const leg = await publish(repo, { context, platforms: `linux/${arch}`, 'push-by-digest': 'true' });
          expect({ round, arch, code: leg.code, log: leg.code ? leg.log : '' }).toEqual({
            round,
            arch,
            code: 0,
            log: '',
          });
          await expectBuiltFor(`${reg.host}/${repo}@${leg.outputs.digest}`, arch);
          await expectBuiltFor(`${bed.reg2}/${repo}@${leg.outputs.digest}`, arch);
          digests.push(leg.outputs.digest);
        }
        const merged = await publish(repo, { 'merge-digests': digests.join('\n') });
        expect(merged.code).toBe(0);
        await expectIndexOf(`${bed.reg2}/${repo}:1.0.0`, ['amd64', 'arm64']);
      }
    });

    it('two jobs of one runner build the same Dockerfile at once, on a platform the daemon has not seen', async () => {
      // No empty ppc64le base yet (on a fresh test bed): both jobs create it at the same time.
      await run('docker', ['image', 'rm', 'publish-image/scratch:linux-ppc64le']).catch(() => undefined);
      const context = realContext();
      const repos = [reg.repo('warmpar'), reg.repo('warmpar')];
      const runs = await Promise.all(
        repos.map((repo, i) =>
          publish(repo, {
            context,
            platforms: i ? 'linux/arm64,linux/ppc64le' : 'linux/ppc64le,linux/arm64',
          }),
        ),
      );
      for (const [i, r] of runs.entries()) {
        expect({ i, code: r.code, log: r.code ? r.log : '' }).toEqual({ i, code: 0, log: '' });
        await expectIndexOf(`${reg.host}/${repos[i]}:1.0.0`, ['arm64', 'ppc64le']);
      }
    });
  },
);
