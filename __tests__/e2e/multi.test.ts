import { beforeAll, describe, expect, it } from '@jest/globals';
import {
  expectNoLeak,
  RegistryProbe,
  SHA,
  events,
  makeContext,
  runAction,
  uniqueRepo,
  secretForms,
  type Env,
  twoRegistries,
} from './harness.js';
import { REGISTRY_KINDS, registryAuthFor, registryOfKind, type RegistryUnderTest } from './registries.js';

let bed: Env;
let reg1: RegistryProbe;
let reg2: RegistryProbe;
let secrets: string[];
const short = SHA.slice(0, 7);

beforeAll(() => {
  ({ bed, reg1, reg2, secrets } = twoRegistries());
});

/** The registry a flow pushes to first (htpasswd reg1 or the token registry), and reg2 beside it. */
interface Pair {
  first: RegistryUnderTest;
  second: RegistryUnderTest;
}

function pairOf(kind: (typeof REGISTRY_KINDS)[number]): Pair {
  const first = registryOfKind(bed, kind);
  const second: RegistryUnderTest = {
    kind: 'htpasswd',
    host: bed.reg2,
    user: bed.reg2User,
    pass: bed.reg2Pass,
    probe: reg2,
    repo: first.repo, // the same path on both registries
  };
  return { first, second };
}

function both(
  pair: Pair,
  repo: string,
  event: ReturnType<typeof events.tag>,
  inputs: Record<string, string>,
) {
  const all = [...secrets, ...secretForms(pair.first.user, pair.first.pass)];
  return runAction({
    event,
    secrets: all,
    inputs: {
      images: `${pair.first.host}/${repo}\n${pair.second.host}/${repo}`,
      'registry-auth': registryAuthFor([pair.first, pair.second]),
      ...inputs,
    },
  });
}

/** The platforms of an index, read from each entry's image config. */
async function platformsOf(probe: RegistryProbe, repo: string, ref: string): Promise<string[]> {
  const index = await probe.manifest(repo, ref);
  expect(index!.body.mediaType).toBe('application/vnd.oci.image.index.v1+json');
  const out: string[] = [];
  for (const m of index!.body.manifests) {
    const config = await probe.config(repo, m.digest);
    expect(`${config.os}/${config.architecture}`).toBe(`${m.platform.os}/${m.platform.architecture}`);
    out.push(`${config.os}/${config.architecture}`);
  }
  return out.sort();
}

describe.each(REGISTRY_KINDS)('several registries in one step (registry-auth; %s registry first)', (kind) => {
  let pair: Pair;
  beforeAll(() => {
    pair = pairOf(kind);
  });

  it('pushes every tag to both registries, reports each digest, and leaks neither token', async () => {
    const repo = pair.first.repo();
    const r = await both(pair, repo, events.tag('v3.1.4'), { context: makeContext(4096) });
    expect(r.code).toBe(0);
    const tags = ['3.1', '3.1.4', 'latest', `sha-${short}`];
    expect(await pair.first.probe.tags(repo)).toEqual(tags);
    expect(await reg2.tags(repo)).toEqual(tags);
    const digests = JSON.parse(r.outputs.digests);
    expect(Object.keys(digests)).toHaveLength(8);
    for (const [probe, host] of [
      [pair.first.probe, pair.first.host],
      [reg2, bed.reg2],
    ] as const) {
      for (const t of tags) {
        const held = await probe.manifest(repo, t);
        expect(digests[`${host}/${repo}:${t}`]).toBe(held!.digest);
      }
    }
    expect(r.outputs.digest).toBe(digests[`${pair.first.host}/${repo}:3.1.4`]);
    expect(r.log).toContain(`Logged in to ${pair.first.host} as ${pair.first.user}`);
    expect(r.log).toContain(`Logged in to ${bed.reg2} as ${bed.reg2User}`);
    expectNoLeak(r, [...secrets, ...secretForms(pair.first.user, pair.first.pass)]);
  });
});

describe.each(REGISTRY_KINDS)('multi-platform without buildx (%s registry first)', (kind) => {
  let pair: Pair;
  beforeAll(() => {
    pair = pairOf(kind);
  });

  it('pushes an OCI index of an amd64 and an arm64 image under every tag', async () => {
    const repo = pair.first.repo();
    const r = await both(pair, repo, events.branch('main'), {
      context: makeContext(2048),
      platforms: 'linux/amd64,linux/arm64',
    });
    expect(r.code).toBe(0);
    expect(await pair.first.probe.tags(repo)).toEqual(['latest', 'main', `sha-${short}`]);
    for (const [probe] of [[pair.first.probe], [reg2]] as const) {
      for (const t of ['latest', 'main', `sha-${short}`]) {
        expect((await probe.manifest(repo, t))!.digest).toBe(r.outputs.digest);
        expect(await platformsOf(probe, repo, t)).toEqual(['linux/amd64', 'linux/arm64']);
      }
    }
    const meta = JSON.parse(r.outputs.metadata);
    expect(Object.keys(meta.platforms).sort()).toEqual(['linux/amd64', 'linux/arm64']);
    expectNoLeak(r, [...secrets, ...secretForms(pair.first.user, pair.first.pass)]);
  });

  it('per-platform jobs push by digest, and a merge job tags the index on both registries', async () => {
    const repo = pair.first.repo();
    const context = makeContext(2048);
    const digests: string[] = [];
    for (const platform of ['linux/amd64', 'linux/arm64']) {
      const r = await both(pair, repo, events.tag('v5.0.0'), {
        context,
        platforms: platform,
        'push-by-digest': 'true',
      });
      expect(r.code).toBe(0);
      expect(r.outputs.digest).toMatch(/^sha256:[a-f0-9]{64}$/);
      // By digest only: no tags yet.
      expect(await pair.first.probe.tags(repo)).toEqual([]);
      expect(await reg2.manifest(repo, r.outputs.digest)).toBeDefined();
      digests.push(r.outputs.digest);
    }
    const merged = await both(pair, repo, events.tag('v5.0.0'), { 'merge-digests': digests.join('\n') });
    expect(merged.code).toBe(0);
    const tags = ['5.0', '5.0.0', 'latest', `sha-${short}`];
    for (const probe of [pair.first.probe, reg2]) {
      expect(await probe.tags(repo)).toEqual(tags);
      for (const t of tags) {
        expect((await probe.manifest(repo, t))!.digest).toBe(merged.outputs.digest);
        expect(await platformsOf(probe, repo, t)).toEqual(['linux/amd64', 'linux/arm64']);
      }
    }
    expectNoLeak(merged, [...secrets, ...secretForms(pair.first.user, pair.first.pass)]);
  });
});

describe('latest only moves forward', () => {
  it('patching an older line leaves latest on the newer release, and a newer release moves it', async () => {
    const repo = uniqueRepo();
    const one = (tag: string) =>
      runAction({
        event: events.tag(tag),
        inputs: {
          images: `${bed.reg1}/${repo}`,
          registry: bed.reg1,
          username: bed.reg1User,
          password: bed.reg1Pass,
          context: makeContext(),
        },
      });
    const v200 = await one('v2.0.0');
    expect(v200.code).toBe(0);
    const v191 = await one('v1.9.1');
    expect(v191.code).toBe(0);
    expect((await reg1.manifest(repo, 'latest'))!.digest).toBe(v200.outputs.digest);
    expect((await reg1.manifest(repo, '1.9.1'))!.digest).toBe(v191.outputs.digest);
    expect((await reg1.manifest(repo, '1.9'))!.digest).toBe(v191.outputs.digest);
    expect(v191.log).toMatch(
      /::notice::Left .*:latest where it is: .*:2\.0\.0 is a newer release than 1\.9\.1/,
    );
    expect(v191.summary).toContain('Left where they are');
    expect(v191.outputs.tags).not.toContain(':latest');
    expect(JSON.parse(v191.outputs.digests)[`${bed.reg1}/${repo}:latest`]).toBeUndefined();

    const v210 = await one('v2.1.0');
    expect(v210.code).toBe(0);
    expect((await reg1.manifest(repo, 'latest'))!.digest).toBe(v210.outputs.digest);
  });
});
