/**
 * Issue 5: the bundled action against a real registry behind a fault-injecting proxy, with
 * bad inputs, with a wrong token, and eight runs at once on one daemon. On every path the
 * token must be in no log, no process's argv and no file once the post step has run.
 */
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import * as path from 'node:path';
import { tempDir } from '../helpers/tmp.js';
import { startFaultProxy, type FaultProxy } from '../helpers/faultproxy.js';
import { errorLines, failedRequests, retryLines, scenarios, served } from './faultscenarios.js';
import {
  expectNoLeak,
  fakeDocker,
  type FakeDocker,
  RegistryProbe,
  events,
  filesContaining,
  makeContext,
  runAction,
  secretForms,
  uniqueRepo,
  type Env,
  type Result,
  twoRegistries,
} from './harness.js';
import { REGISTRY_KINDS, registryOfKind, type RegistryUnderTest } from './registries.js';

let bed: Env;
let reg1: RegistryProbe;
let reg2: RegistryProbe;
/** Every form of both registries' tokens: none may leak anywhere. */
let allSecrets: string[];

beforeAll(() => {
  ({ bed, reg1, reg2, secrets: allSecrets } = twoRegistries());
});

// Both describes run against the htpasswd registry and the token registry (the proxy in front of
// the registry, the token server reached directly, as its realm says): a retried request must
// renew or reuse its token, never fall back to "not logged in".
describe.each(REGISTRY_KINDS)('transient registry faults (through the fault proxy; %s registry)', (kind) => {
  let reg: RegistryUnderTest;
  let secrets: string[];
  beforeAll(() => {
    reg = registryOfKind(bed, kind);
    secrets = [...allSecrets, ...secretForms(reg.user, reg.pass)];
  });
  it.each(scenarios)('survives $name; every tag lands, one retry line per retry', async (s) => {
    const proxy = await startFaultProxy(reg.host);
    try {
      const repoA = reg.repo('rel');
      const repoB = reg.repo('rel');
      const faults = s.faults(repoA, repoB);
      for (const f of faults) proxy.addFault(f);
      const tags = ['one', 'two', 'three'];
      const images = [`${proxy.host}/${repoA}`, ...(s.twoRepos ? [`${proxy.host}/${repoB}`] : [])];
      const r = await runAction({
        event: events.branch('main'),
        secrets,
        inputs: {
          images: images.join('\n'),
          registry: proxy.host,
          username: reg.user,
          password: reg.pass,
          tags: tags.map((t) => `type=raw,value=${t}`).join('\n'),
          flavor: 'latest=false',
          context: makeContext(s.layerBytes),
        },
      });
      const want = faults.reduce((n, f) => n + f.times, 0);
      if (r.code !== 0 || retryLines(r).length !== s.retries.length || failedRequests(proxy).length !== want)
        console.log(`${s.name}:\n${r.log}\nfailed requests: ${JSON.stringify(failedRequests(proxy))}`);
      expect(r.code).toBe(0);
      expect(errorLines(r)).toEqual([]);

      // Every fault was served, so every one of them was survived.
      expect(served(proxy, faults)).toHaveLength(want);

      // Read the real registry, not through the proxy.
      expect(await reg.probe.tags(repoA)).toEqual([...tags].sort());
      if (s.twoRepos) expect(await reg.probe.tags(repoB)).toEqual([...tags].sort());
      const digest = r.outputs.digest;
      expect(digest).toMatch(/^sha256:[a-f0-9]{64}$/);
      for (const repo of s.twoRepos ? [repoA, repoB] : [repoA])
        for (const t of tags) expect((await reg.probe.manifest(repo, t))?.digest).toBe(digest);
      expect(r.outputs.pushed).toBe('true');
      expect(Object.keys(JSON.parse(r.outputs.digests)).sort()).toEqual(
        images.flatMap((i) => tags.map((t) => `${i}:${t}`)).sort(),
      );

      // One retry line per retry: each injected fault the action retried has its own line...
      const lines = retryLines(r);
      const unmatched = [...lines];
      for (const re of s.retries) {
        const at = unmatched.findIndex((l) => re.test(l));
        expect({ re: String(re), found: at >= 0, lines }).toMatchObject({ found: true });
        unmatched.splice(at, 1);
      }
      expect(r.log.split('\n').filter((l) => / failed \(.*\); sending it again$/.test(l))).toHaveLength(
        s.resent ?? 0,
      );
      // ...and there is no other line, unless the registry itself failed a request we did not
      // inject, at most one line each. (distribution 2.8 now and then answers 500 "invalid
      // checksum digest format" to a GET of a manifest while that manifest is being PUT under
      // another tag, which the copy to the second repository does side by side with the tags.)
      const genuine = failedRequests(proxy).filter((q) => !served(proxy, faults).includes(q));
      expect(unmatched.slice(genuine.length)).toEqual([]);
      expectNoLeak(r, secrets);
    } finally {
      await proxy.close();
    }
  });
});

describe.each(REGISTRY_KINDS)('a registry that keeps failing (%s registry)', (kind) => {
  let reg: RegistryUnderTest;
  let secrets: string[];
  beforeAll(() => {
    reg = registryOfKind(bed, kind);
    secrets = [...allSecrets, ...secretForms(reg.user, reg.pass)];
  });
  it('503 on every manifest PUT: fails in under two minutes with one error naming the 503 and the refs not pushed', async () => {
    const proxy = await startFaultProxy(reg.host);
    try {
      const repo = reg.repo('rel');
      proxy.addFault({ method: 'PUT', path: /\/manifests\//, times: 10_000, action: { status: 503 } });
      const image = `${proxy.host}/${repo}`;
      const r = await runAction({
        event: events.branch('main'),
        secrets,
        inputs: {
          images: image,
          registry: proxy.host,
          username: reg.user,
          password: reg.pass,
          tags: 'type=raw,value=one\ntype=raw,value=two',
          flavor: 'latest=false',
          context: makeContext(),
        },
      });
      expect(r.code).toBe(1);
      expect(r.ms).toBeLessThan(120_000);
      const errors = errorLines(r);
      expect(errors).toHaveLength(1);
      expect(errors[0]).toMatch(/503/);
      expect(errors[0]).toContain(`${image}:one`);
      expect(errors[0]).toContain(`${image}:two`);
      expect(errors[0]).toMatch(/Not pushed:/);
      // Retries were spent (the defaults: 5 attempts, so at most 4 retries per tag), and not more.
      expect(retryLines(r).length).toBeGreaterThanOrEqual(2);
      expect(retryLines(r).length).toBeLessThanOrEqual(2 * 4);

      expect(r.outputs.pushed).toBe('false');
      expect(r.outputs.digests).toBe('{}');
      expect(r.outputs.digest).toBe('');
      expect(await reg.probe.tags(repo)).toEqual([]);
      expectNoLeak(r, secrets);
    } finally {
      await proxy.close();
    }
  });

  it('a wrong token fails in a few seconds, with no retry', async () => {
    const repo = reg.repo('rel');
    const wrong = `wrong-token-${Date.now()}`;
    const r = await runAction({
      event: events.branch('main'),
      secrets: [...secrets, wrong],
      inputs: {
        images: `${reg.host}/${repo}`,
        registry: reg.host,
        username: reg.user,
        password: wrong,
        context: makeContext(),
      },
    });
    expect(r.code).toBe(1);
    expect(r.ms).toBeLessThan(5_000);
    expect(r.log).not.toMatch(/retrying/);
    const errors = errorLines(r);
    expect(errors).toHaveLength(1);
    expect(errors[0]).toMatch(/rejected the credentials/);
    expect(await reg.probe.tags(repo)).toEqual([]);
    expectNoLeak(r, [...secrets, ...secretForms(reg.user, wrong)]);
  });
});

// ------------------------------------------------------------------------------------------------

interface BadInput {
  name: string;
  /** The input the error must name. */
  input: string;
  inputs: (host: string, repo: string, ctx: string) => Record<string, string>;
}

// Not here: an upper-case name (`Acme/API`). Like docker/metadata-action, src/meta/images.ts
// lower-cases image names, and __tests__/unit/meta/validation.test.ts asserts that
// `GHCR.IO/Acme/App` is valid; whether it should be an input error is the maintainers' call.
const badInputs: BadInput[] = [
  {
    name: 'an image name with a space',
    input: 'images',
    inputs: (host) => ({ images: `${host}/acme/my api` }),
  },
  {
    name: 'an image name with a bad character',
    input: 'images',
    inputs: (host) => ({ images: `${host}/acme/ap!i` }),
  },
  {
    name: 'an image name with an empty path component',
    input: 'images',
    inputs: (host) => ({ images: `${host}/acme//api` }),
  },
  {
    name: 'an image name that is only a registry',
    input: 'images',
    inputs: (host) => ({ images: `${host}/` }),
  },
  {
    name: 'a tag longer than 128 characters',
    input: 'tags',
    inputs: () => ({ tags: `type=raw,value=${'x'.repeat(129)}` }),
  },
  {
    name: 'an invalid tag',
    input: 'tags',
    inputs: () => ({ tags: 'type=raw,value=-leading-dash' }),
  },
  { name: 'no images', input: 'images', inputs: () => ({ images: '' }) },
  {
    name: 'a password without a username',
    input: 'username',
    inputs: () => ({ username: '' }),
  },
  {
    name: 'a username without a password',
    input: 'password',
    inputs: () => ({ password: '' }),
  },
  {
    name: 'registry-auth together with username/password',
    input: 'registry-auth',
    inputs: (host) => ({
      'registry-auth': `- registry: ${host}\n  username: ${bed.reg1User}\n  password: ${bed.reg1Pass}\n`,
    }),
  },
  {
    name: 'malformed registry-auth YAML',
    input: 'registry-auth',
    inputs: (host) => ({
      username: '',
      password: '',
      'registry-auth': `- registry: ${host}\n  username: ${bed.reg1User}\n  password: "${bed.reg1Pass}\n - [oops: {\n`,
    }),
  },
  {
    name: 'a context that does not exist',
    input: 'context',
    inputs: () => ({ context: '/nonexistent/publish-image-context' }),
  },
  {
    name: 'a context without a Dockerfile',
    input: 'context',
    inputs: () => ({ context: tempDir('publish-image-empty') }),
  },
  {
    name: 'a Dockerfile that does not exist',
    input: 'file',
    inputs: (_host, _repo, ctx) => ({ file: path.join(ctx, 'Nope.Dockerfile') }),
  },
  { name: 'an unknown tag rule type', input: 'tags', inputs: () => ({ tags: 'type=foo,value=x' }) },
  { name: 'a bad flavor', input: 'flavor', inputs: () => ({ flavor: 'latest=sometimes' }) },
  { name: 'a non-boolean (pull: yes)', input: 'pull', inputs: () => ({ pull: 'yes' }) },
  {
    name: 'a non-number (retry-attempts: many)',
    input: 'retry-attempts',
    inputs: () => ({ 'retry-attempts': 'many' }),
  },
  { name: 'a bad push mode', input: 'push', inputs: () => ({ push: 'sometimes' }) },
];

describe('bad inputs', () => {
  let proxy: FaultProxy;
  beforeAll(async () => {
    proxy = await startFaultProxy(bed.reg1);
  });
  afterAll(async () => {
    await proxy.close();
  });

  const run = (inputs: Record<string, string>, docker: FakeDocker) =>
    runAction({
      event: events.branch('main'),
      secrets: allSecrets,
      env: docker.env,
      inputs,
    });

  const expectInputFailure = (r: Result, input: string) => {
    expect(r.code).toBe(1);
    expect(r.ms).toBeLessThan(10_000);
    const errors = errorLines(r);
    expect(errors).toHaveLength(1);
    expect(errors[0]).toContain(`Input "${input}"`);
  };

  it.each(badInputs)('$name fails at once naming "$input", before any docker or registry call', async (c) => {
    proxy.requests.length = 0;
    const repo = uniqueRepo('rel');
    const ctx = makeContext();
    const docker = fakeDocker();
    const r = await run(
      {
        images: `${proxy.host}/${repo}`,
        registry: proxy.host,
        username: bed.reg1User,
        password: bed.reg1Pass,
        context: ctx,
        tags: 'type=raw,value=one',
        ...c.inputs(proxy.host, repo, ctx),
      },
      docker,
    );
    expectInputFailure(r, c.input);
    expect(docker.calls()).toEqual([]);
    expect(proxy.requests).toEqual([]);
    expect(await reg1.tags(repo)).toEqual([]);
    expectNoLeak(r, allSecrets);
  });

  it('source naming an image that is not in the daemon fails on its first docker call, and nothing else', async () => {
    proxy.requests.length = 0;
    const repo = uniqueRepo('rel');
    const docker = fakeDocker({ passThrough: true });
    const missing = `local/not-there-${Date.now()}:nope`;
    const r = await run(
      {
        images: `${proxy.host}/${repo}`,
        registry: proxy.host,
        username: bed.reg1User,
        password: bed.reg1Pass,
        tags: 'type=raw,value=one',
        source: missing,
        context: '/nonexistent',
      },
      docker,
    );
    expectInputFailure(r, 'source');
    const calls = docker.calls();
    expect(calls).toHaveLength(1);
    // The image is tagged for the push relay at once: that tag is also the existence check.
    // Through the daemon's socket where the action reaches it (here), else the CLI.
    expect(calls[0]).toMatch(/^(image inspect .*|API GET \/images\/)local\/not-there-/);
    expect(proxy.requests).toEqual([]);
    expect(await reg1.tags(repo)).toEqual([]);
    expectNoLeak(r, allSecrets);
  });
});

// ------------------------------------------------------------------------------------------------

describe('nine runs at once on one daemon', () => {
  it('a third each to reg1 as alice, reg2 as bob and the token registry as carol: all succeed, each pushes only its own tags, no token crosses', async () => {
    const regs = [
      { host: bed.reg1, user: bed.reg1User, pass: bed.reg1Pass, probe: reg1 },
      { host: bed.reg2, user: bed.reg2User, pass: bed.reg2Pass, probe: reg2 },
      { host: bed.reg3, user: bed.reg3User, pass: bed.reg3Pass, probe: registryOfKind(bed, 'token').probe },
    ].map((r) => ({ ...r, tokens: secretForms(r.user, r.pass) }));
    const everySecret = [...allSecrets, ...regs[2]!.tokens];
    const runs = Array.from({ length: 9 }, (_, i) => {
      const own = regs[i % 3]!;
      const others = regs.filter((r) => r !== own);
      return {
        i,
        host: own.host,
        user: own.user,
        pass: own.pass,
        probe: own.probe,
        otherProbes: others.map((r) => r.probe),
        own: own.tokens,
        other: others.flatMap((r) => r.tokens),
        // The token registry lets carol push to carol/... only; the others take any name.
        repo: i % 3 === 2 ? registryOfKind(bed, 'token').repo(`par${i}`) : uniqueRepo(`par${i}`),
        tags: [`run${i}-a`, `run${i}-b`],
        /** Files holding another registry's token, seen during main or before post. */
        crossed: [] as string[],
        /** Files holding the run's own token while main runs (the action's own config). */
        duringMain: [] as string[],
        /** Files holding any token after main and before post (none: main removes its config). */
        beforePost: [] as string[],
      };
    });
    const results = await Promise.all(
      runs.map((x) =>
        runAction({
          event: events.branch('main'),
          secrets: everySecret,
          watchMs: 50,
          watch: (phase, dirs) => {
            for (const d of [dirs.home, dirs.runnerTemp]) {
              x.crossed.push(...filesContaining(d, x.other).map((f) => `${phase}: ${f}`));
              const own = filesContaining(d, x.own);
              (phase === 'before-post' ? x.beforePost : x.duringMain).push(...own);
            }
          },
          inputs: {
            images: `${x.host}/${x.repo}`,
            registry: x.host,
            username: x.user,
            password: x.pass,
            tags: x.tags.map((t) => `type=raw,value=${t}`).join('\n'),
            flavor: 'latest=false',
            context: makeContext(2048),
          },
        }),
      ),
    );
    for (const [k, r] of results.entries()) {
      const x = runs[k];
      if (r.code !== 0) console.log(`run ${k}:\n${r.log}`);
      expect(r.code).toBe(0);
      expect(await x.probe.tags(x.repo)).toEqual([...x.tags].sort());
      for (const probe of x.otherProbes) expect(await probe.tags(x.repo)).toEqual([]);
      expect(Object.keys(JSON.parse(r.outputs.digests)).sort()).toEqual(
        x.tags.map((t) => `${x.host}/${x.repo}:${t}`).sort(),
      );
      expect(r.log).toContain(`Logged in to ${x.host} as ${x.user}`);
      for (const t of x.tags) expect((await x.probe.manifest(x.repo, t))?.digest).toBe(r.outputs.digest);
      expect(x.crossed).toEqual([]);
      // While main runs the run's own token is in its own config under RUNNER_TEMP (so the watch
      // does see the config), never in HOME; the main step removes it when it ends.
      expect(x.duringMain.length).toBeGreaterThan(0);
      for (const f of x.duringMain) expect(f.startsWith(r.runnerTemp)).toBe(true);
      expect(x.beforePost).toEqual([]);
      expect(r.log).toContain('Removed the registry credentials');
      expectNoLeak(r, everySecret);
    }
  });
});
