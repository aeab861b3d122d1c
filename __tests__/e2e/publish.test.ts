import { describe, expect, it, beforeAll } from '@jest/globals';
import {
  expectNoLeak,
  SHA,
  events,
  filesContaining,
  makeContext,
  runAction,
  secretForms,
  testBed,
  visibleLog,
  type Env,
} from './harness.js';
import { REGISTRY_KINDS, registryOfKind, type RegistryUnderTest } from './registries.js';

let bed: Env;
const short = SHA.slice(0, 7);

beforeAll(() => {
  bed = testBed();
});

function publishTo(
  reg: RegistryUnderTest,
  repo: string,
  event: ReturnType<typeof events.tag>,
  inputs: Record<string, string> = {},
) {
  return runAction({
    event,
    secrets: secretForms(reg.user, reg.pass),
    inputs: {
      images: `${reg.host}/${repo}`,
      registry: reg.host,
      username: reg.user,
      password: reg.pass,
      context: makeContext(),
      ...inputs,
    },
  });
}

describe.each(REGISTRY_KINDS)('publishing with the default tag rules (%s registry)', (kind) => {
  let reg: RegistryUnderTest;
  beforeAll(() => {
    reg = registryOfKind(bed, kind);
  });

  it('a release tag v1.2.3 pushes 1.2.3, 1.2, latest and sha-<7>, one digest, labelled and reported', async () => {
    const repo = reg.repo();
    const r = await publishTo(reg, repo, events.tag('v1.2.3'));
    expect(r.code).toBe(0);
    expect(await reg.probe.tags(repo)).toEqual(['1.2', '1.2.3', 'latest', `sha-${short}`].sort());

    const digests = await Promise.all(
      ['1.2.3', '1.2', 'latest', `sha-${short}`].map((t) => reg.probe.manifest(repo, t)),
    );
    const registryDigest = digests[0]!.digest;
    expect(registryDigest).toMatch(/^sha256:[a-f0-9]{64}$/);
    for (const d of digests) expect(d!.digest).toBe(registryDigest);

    expect(r.outputs.version).toBe('1.2.3');
    expect(r.outputs.digest).toBe(registryDigest);
    expect(r.outputs.pushed).toBe('true');
    const image = `${reg.host}/${repo}`;
    const refs = ['1.2.3', '1.2', `sha-${short}`, 'latest'].map((t) => `${image}:${t}`);
    expect(r.outputs.tags.split('\n').sort()).toEqual([...refs].sort());
    expect(JSON.parse(r.outputs.digests)).toEqual(
      Object.fromEntries(refs.map((ref) => [ref, registryDigest])),
    );
    expect(r.outputs.imageid).toMatch(/^sha256:[a-f0-9]{64}$/);

    const labels = (await reg.probe.config(repo, '1.2.3')).config.Labels;
    expect(labels['org.opencontainers.image.version']).toBe('1.2.3');
    expect(labels['org.opencontainers.image.revision']).toBe(SHA);
    expect(labels['org.opencontainers.image.source']).toBe('https://github.com/acme/api');
    expect(labels['org.opencontainers.image.licenses']).toBe('MIT');
    expect(labels['org.opencontainers.image.created']).toMatch(/^\d{4}-\d\d-\d\dT/);

    expect(r.summary).toContain('1.2.3');
    expect(r.summary).toContain(registryDigest);
    for (const ref of refs) expect(r.summary).toContain(ref);
    expectNoLeak(r, secretForms(reg.user, reg.pass));
  });

  it('a push to the default branch pushes main, sha-<7> and latest', async () => {
    const repo = reg.repo();
    const r = await publishTo(reg, repo, events.branch('main'));
    expect(r.code).toBe(0);
    expect(await reg.probe.tags(repo)).toEqual(['latest', 'main', `sha-${short}`]);
    expect(r.outputs.version).toBe('main');
    expectNoLeak(r, secretForms(reg.user, reg.pass));
  });

  it('a pull request from the same repository pushes pr-<N> and sha-<7>, not latest', async () => {
    const repo = reg.repo();
    const r = await publishTo(reg, repo, events.pr(1247, false));
    expect(r.code).toBe(0);
    expect(await reg.probe.tags(repo)).toEqual(['pr-1247', `sha-${short}`]);
    expect(r.outputs.version).toBe('pr-1247');
    expectNoLeak(r, secretForms(reg.user, reg.pass));
  });

  it('a pull request from a fork, where secrets are empty, builds, pushes nothing and succeeds', async () => {
    const repo = reg.repo();
    const r = await runAction({
      event: events.pr(7, true),
      inputs: {
        images: `${reg.host}/${repo}`,
        registry: reg.host,
        username: 'octocat',
        password: '',
        context: makeContext(),
      },
    });
    expect(r.code).toBe(0);
    expect(r.outputs.pushed).toBe('false');
    expect(r.outputs.digests).toBe('{}');
    expect(r.outputs.imageid).toMatch(/^sha256:/);
    expect(r.log).toMatch(/::notice::.*fork/);
    expect(await reg.probe.tags(repo)).toEqual([]);
  });

  it('a wrong token fails with one error naming the registry and the login, fast, and pushes nothing', async () => {
    const repo = reg.repo();
    const wrong = 'not-the-token-' + Date.now();
    const r = await runAction({
      event: events.tag('v1.0.0'),
      secrets: [wrong],
      inputs: {
        images: `${reg.host}/${repo}`,
        registry: reg.host,
        username: reg.user,
        password: wrong,
        context: makeContext(),
      },
    });
    expect(r.code).toBe(1);
    const errors = r.log.split('\n').filter((l) => l.startsWith('::error'));
    expect(errors).toHaveLength(1);
    expect(errors[0]).toContain(`Login to ${reg.host}`);
    expect(errors[0]).toMatch(/rejected the credentials/);
    expect(r.log).not.toMatch(/retrying/);
    expect(r.ms).toBeLessThan(10_000);
    expect(await reg.probe.tags(repo)).toEqual([]);
    expect(visibleLog(r.log)).not.toContain(wrong);
    expect(r.argvHits).toEqual([]);
    expect(filesContaining(r.runnerTemp, [wrong])).toEqual([]);
    expect(filesContaining(r.home, [wrong])).toEqual([]);
  });

  it('the step removes its own docker config when it ends, and never writes to ~/.docker', async () => {
    const repo = reg.repo();
    const r = await publishTo(reg, repo, events.branch('feature/x'), { tags: 'type=ref,event=branch' });
    expect(r.code).toBe(0);
    expect(await reg.probe.tags(repo)).toEqual(['feature-x']);
    // The main step removes them when it is done; the post step then has nothing left to do.
    expect(r.log).toContain('Removed the registry credentials');
    expect(r.post.code).toBe(0);
    expect(r.post.log).not.toContain('Removed the registry credentials');
    expectNoLeak(r, secretForms(reg.user, reg.pass));
  });
});

describe.each(REGISTRY_KINDS)(
  'publishing an image that is already in the daemon (source; %s registry)',
  (kind) => {
    it('tags and pushes it without building', async () => {
      const reg = registryOfKind(bed, kind);
      const repo = reg.repo();
      const first = await publishTo(reg, repo, events.branch('main'), {
        tags: 'type=raw,value=one',
        push: 'false',
      });
      expect(first.code).toBe(0);
      const r = await publishTo(reg, repo, events.branch('main'), {
        tags: 'type=raw,value=two',
        source: first.outputs.imageid,
        context: '/nonexistent',
      });
      expect(r.code).toBe(0);
      expect(r.outputs.imageid).toBe(first.outputs.imageid);
      expect(await reg.probe.tags(repo)).toEqual(['two']);
      expectNoLeak(r, secretForms(reg.user, reg.pass));
    });
  },
);
