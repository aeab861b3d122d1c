/**
 * Issue 23: the security promises, each shown on the bundled action against the real daemon
 * and registries: no secret in any child's argv or environment, nothing a failing credential
 * helper prints in the log, no Docker config where docker needs no login, none left behind by a
 * cancelled step, a config that cannot be removed failing the step, docker login's 401 tried
 * once, a dry run that asks nobody anything, a Docker Hub name without namespace refused first.
 */
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import * as path from 'node:path';
import { tempDir } from '../helpers/tmp.js';
import { childSpy } from '../helpers/leaks.js';
import { startFaultProxy, type FaultProxy } from '../helpers/faultproxy.js';
import {
  events,
  expectNoLeak,
  fakeDocker,
  makeContext,
  RegistryProbe,
  runAction,
  secretForms,
  testBed,
  uniqueRepo,
  visibleLog,
  type Env,
  type Result,
} from './harness.js';

let bed: Env;
let reg1: RegistryProbe;
let secrets: string[];

beforeAll(() => {
  bed = testBed();
  reg1 = new RegistryProbe(bed.reg1, bed.reg1User, bed.reg1Pass);
  secrets = secretForms(bed.reg1User, bed.reg1Pass);
});

const errorLines = (log: string) => log.split('\n').filter((l) => l.startsWith('::error::'));
const logins = (r: Result) => r.children.filter((c) => c.program === 'docker' && c.argv[0] === 'login');
/** The step's own Docker configs under RUNNER_TEMP (`publish-image-docker-*`). */
const configDirs = (runnerTemp: string) =>
  existsSync(runnerTemp)
    ? readdirSync(runnerTemp)
        .filter((n) => n.startsWith('publish-image-docker-'))
        .map((n) => path.join(runnerTemp, n))
    : [];

/** Async: the proxies run in this process and must keep answering while docker waits. */
function docker(args: string[], env: Record<string, string> = {}): Promise<string> {
  return new Promise((resolve, reject) => {
    const child = spawn('docker', args, { env: { ...process.env, ...env } });
    let out = '';
    child.stdout.on('data', (c: Buffer) => (out += c.toString()));
    child.stderr.on('data', (c: Buffer) => (out += c.toString()));
    child.on('close', (code) => (code === 0 ? resolve(out) : reject(new Error(`docker ${args[0]}: ${out}`))));
    child.stdin.end();
  });
}

describe('the leak check itself', () => {
  const quiet: Omit<Result, 'children'> = {
    code: 0,
    log: '',
    outputs: {},
    summary: '',
    post: { code: 0, log: '' },
    home: '/nonexistent',
    runnerTemp: '/nonexistent',
    argvHits: [],
    issued: [],
    ms: 0,
  };
  /** What the spy records of one `sh -c true` (gone within a millisecond) started with `env`. */
  const oneChild = (env: Record<string, string>, args: string[] = []) => {
    const spy = childSpy(tempDir('publish-image-spy'), process.env.PATH ?? '/usr/bin:/bin');
    spawnSync('sh', ['-c', 'true', ...args], { env: { PATH: spy.path, ...env } });
    return spy.calls();
  };
  const pass = 'p4ssw0rd-for-the-check';
  const user = 'checker';
  const b64 = (s: string) => Buffer.from(s).toString('base64');
  const auth = (address: string) =>
    b64(JSON.stringify({ username: user, password: pass, serveraddress: address }))
      .replace(/\+/g, '-')
      .replace(/\//g, '_');

  it.each([
    ['the password in its environment', { LEAK: pass }, []],
    ['base64(user:password) in its environment', { LEAK: b64(`${user}:${pass}`) }, []],
    ['base64(password) in its environment', { LEAK: b64(pass) }, []],
    ["an X-Registry-Auth value for any address (a proxy's)", { LEAK: auth('127.0.0.1:1') }, []],
    ['an INPUT_ variable, even one holding no secret', { INPUT_IMAGES: 'acme/api' }, []],
    ['the password in its argv', {}, [pass]],
  ])('finds %s, in a child that lived a millisecond', (_what, env, args) => {
    const children = oneChild(env, args);
    expect(children.map((c) => c.program)).toEqual(['sh']);
    expect(() => expectNoLeak({ ...quiet, children }, secretForms(user, pass))).toThrow();
  });

  it('passes a child that holds nothing of the secret', () => {
    const children = oneChild({ HARMLESS: 'nothing here' });
    expect(children).toHaveLength(1);
    expect(() => expectNoLeak({ ...quiet, children }, secretForms(user, pass))).not.toThrow();
  });
});

describe('credentials', () => {
  it('a credential helper that fails noisily: one error naming it, nothing it printed in the log', async () => {
    const bin = tempDir('publish-image-helper');
    const helper = path.join(bin, 'docker-credential-noisy');
    // It prints the very secret it guards, on both streams, then fails.
    writeFileSync(
      helper,
      [
        '#!/bin/sh',
        `printf '{"ServerURL":"%s","Username":"${bed.reg1User}","Secret":"${bed.reg1Pass}"}\\n' "$(cat)"`,
        `echo "noisy: could not unlock ${bed.reg1Pass} for ${bed.reg1User}" >&2`,
        'exit 1',
        '',
      ].join('\n'),
      { mode: 0o755 },
    );
    const cfg = tempDir('publish-image-helpercfg');
    writeFileSync(path.join(cfg, 'config.json'), JSON.stringify({ credHelpers: { [bed.reg1]: 'noisy' } }));
    const r = await runAction({
      event: events.branch('main'),
      env: { PATH: `${bin}:${process.env.PATH}`, DOCKER_CONFIG: cfg },
      inputs: {
        images: `${bed.reg1}/${uniqueRepo('noisy')}`,
        tags: 'type=raw,value=x',
        context: makeContext(),
      },
    });
    expect(r.code).toBe(1);
    const errors = errorLines(r.log);
    expect(errors).toHaveLength(1);
    expect(errors[0]).toContain('docker-credential-noisy');
    // The helper did run (through the spy), and got none of the step's inputs.
    expect(r.children.some((c) => c.program === 'docker-credential-noisy')).toBe(true);
    expect(visibleLog(r.log)).not.toContain('noisy: could not unlock');
    expectNoLeak(r, secrets);
  });

  it("a source image published through the daemon's socket: no docker login, no Docker config written", async () => {
    const source = `local/${uniqueRepo('src')}:1`;
    await docker(['build', '-q', '-t', source, makeContext()]);
    const repo = uniqueRepo('src');
    const seen = new Set<string>();
    const r = await runAction({
      event: events.branch('main'),
      watchMs: 10,
      watch: (_phase, dirs) => {
        for (const d of [...configDirs(dirs.runnerTemp), path.join(dirs.home, '.docker')])
          if (existsSync(d)) seen.add(d);
      },
      inputs: {
        images: `${bed.reg1}/${repo}`,
        registry: bed.reg1,
        username: bed.reg1User,
        password: bed.reg1Pass,
        tags: 'type=raw,value=one',
        source,
      },
    });
    expect(r.code).toBe(0);
    expect(logins(r)).toEqual([]);
    expect([...seen]).toEqual([]);
    // Nothing to remove at the end either: the step never had credentials on disk.
    expect(r.log).not.toContain('Removed the registry credentials');
    expect(await reg1.tags(repo)).toEqual(['one']);
    expectNoLeak(r, secrets);
  });

  it('logout: false keeps the Docker config with the login for later steps, and says where', async () => {
    const r = await runAction({
      event: events.branch('main'),
      inputs: {
        images: `${bed.reg1}/${uniqueRepo('keep')}`,
        registry: bed.reg1,
        username: bed.reg1User,
        password: bed.reg1Pass,
        tags: 'type=raw,value=x',
        context: makeContext(),
        logout: 'false',
      },
    });
    expect(r.code).toBe(0);
    expect(logins(r)).toHaveLength(1);
    const [dir] = configDirs(r.runnerTemp);
    expect(dir).toBeDefined();
    const config = JSON.parse(readFileSync(path.join(dir!, 'config.json'), 'utf8')) as {
      auths: Record<string, { auth: string }>;
    };
    expect(config.auths[bed.reg1]?.auth).toBe(secrets[1]);
    expect(r.post.log).toContain(`logout: false, the registry credentials stay in ${dir}`);
    // Kept on purpose, so not in any log, output or child's environment either.
    expectNoLeak({ ...r, runnerTemp: '/nonexistent' }, secrets);
  });

  it('a main step cancelled mid-push (SIGINT) leaves no credentials once the post step ran', async () => {
    // A slow uplink: the layer's upload takes seconds, and the step is cancelled in its middle.
    const proxy = await startFaultProxy(bed.reg1, { bytesPerSecond: 256 * 1024 });
    try {
      const repo = uniqueRepo('cancel');
      let configSeen = false;
      const r = await runAction({
        event: events.branch('main'),
        watchMs: 20,
        watch: (phase, dirs) => {
          if (phase === 'main' && configDirs(dirs.runnerTemp).length) configSeen = true;
        },
        interruptWhen: () =>
          proxy.requests.some((q) => q.method === 'POST' && /\/blobs\/uploads\/$/.test(q.path)),
        inputs: {
          images: `${proxy.host}/${repo}`,
          registry: proxy.host,
          username: bed.reg1User,
          password: bed.reg1Pass,
          tags: 'type=raw,value=x',
          context: makeContext(2 * 1024 * 1024),
        },
      });
      expect(configSeen).toBe(true);
      expect(r.code).not.toBe(0); // killed by the signal, nothing of its own end ran
      expect(r.log).not.toContain('Removed the registry credentials');
      expect(r.post.code).toBe(0);
      expect(r.post.log).toContain('Removed the registry credentials of this step');
      expect(configDirs(r.runnerTemp)).toEqual([]);
      expect(await reg1.tags(repo)).toEqual([]);
      expectNoLeak(r, secrets);
    } finally {
      await proxy.close();
    }
  }, 60_000);

  describe('a Docker config that cannot be removed', () => {
    const mounts: string[] = [];
    afterAll(() => {
      for (const m of mounts) spawnSync('umount', [m]);
    });

    it('fails the step with one line saying where it is; the post step tries again and says so too', async () => {
      // A mount point inside the config: even root cannot remove a directory something is mounted on.
      const r = await runAction({
        event: events.branch('main'),
        watchMs: 10,
        watch: (phase, dirs) => {
          if (phase !== 'main' || mounts.length) return;
          const [dir] = configDirs(dirs.runnerTemp);
          if (!dir) return;
          const pin = path.join(dir, 'pinned');
          mkdirSync(pin);
          if (spawnSync('mount', ['-t', 'tmpfs', 'tmpfs', pin]).status === 0) mounts.push(pin);
        },
        inputs: {
          images: `${bed.reg1}/${uniqueRepo('pinned')}`,
          registry: bed.reg1,
          username: bed.reg1User,
          password: bed.reg1Pass,
          tags: 'type=raw,value=x',
          context: makeContext(),
        },
      });
      expect(mounts).toHaveLength(1);
      const dir = path.dirname(mounts[0]!);
      expect(r.code).toBe(1);
      const errors = errorLines(r.log);
      expect(errors).toHaveLength(1);
      expect(errors[0]).toMatch(/registry credentials of this step are still on the runner in/);
      expect(errors[0]).toContain(dir);
      expect(r.post.code).toBe(1);
      expect(errorLines(r.post.log)).toEqual([expect.stringContaining(dir)]);
      expect(errorLines(r.post.log)[0]).toMatch(/EBUSY/);
    });
  });

  it("docker login's 401 is tried once, and said as the token refused", async () => {
    const proxy = await startFaultProxy(bed.reg1);
    try {
      // Only the daemon's login probe is refused: the action's own check of the token passes.
      proxy.addFault({
        method: 'GET',
        path: /^\/v2\/$/,
        agent: /^docker\//,
        times: 1000,
        action: { status: 401, headers: { 'WWW-Authenticate': 'Basic realm="reg1"' } },
      });
      const r = await runAction({
        event: events.branch('main'),
        inputs: {
          images: `${proxy.host}/${uniqueRepo('refused')}`,
          registry: proxy.host,
          username: bed.reg1User,
          password: bed.reg1Pass,
          tags: 'type=raw,value=x',
          context: makeContext(),
        },
      });
      expect(r.code).toBe(1);
      expect(logins(r)).toHaveLength(1);
      const errors = errorLines(r.log);
      expect(errors).toHaveLength(1);
      expect(errors[0]).toMatch(
        /docker login to .* failed: the registry refused the token \(401 Unauthorized\)/,
      );
      expect(r.log).not.toMatch(/retrying in/);
      expectNoLeak(r, secrets);
    } finally {
      await proxy.close();
    }
  });
});

describe('before any docker or network work', () => {
  let proxy: FaultProxy;
  beforeAll(async () => {
    proxy = await startFaultProxy(bed.reg1);
  });
  afterAll(async () => {
    await proxy.close();
  });

  it('a dry run of a release makes no Engine API call, no docker call and no registry request, and says latest was not checked', async () => {
    const trap = fakeDocker();
    const before = proxy.requests.length;
    const image = `${proxy.host}/${uniqueRepo('dry')}`;
    const r = await runAction({
      event: events.tag('v1.2.3'),
      env: trap.env,
      inputs: {
        images: image,
        'dry-run': 'true',
        registry: proxy.host,
        username: bed.reg1User,
        password: bed.reg1Pass,
      },
    });
    expect(r.code).toBe(0);
    expect(trap.calls()).toEqual([]);
    expect(r.children).toEqual([]);
    expect(proxy.requests.slice(before)).toEqual([]);
    const said =
      'latest-forward-only was not checked (a dry run asks no registry): a real run leaves 1.2, latest where they are on a registry that already holds a release newer than 1.2.3.';
    expect(r.log).toContain(said);
    expect(r.summary).toContain(said);
    expect(r.log).toContain(`would push ${image}:latest`);
    expectNoLeak(r, secrets);
  });

  it.each([['myapp'], ['docker.io/myapp']])(
    'images: %s (Docker Hub, no namespace) fails with the input error before any login, build or request',
    async (images) => {
      const trap = fakeDocker();
      const before = proxy.requests.length;
      const r = await runAction({
        event: events.branch('main'),
        env: { ...trap.env, DOCKERHUB_API_URL: `http://${proxy.host}` },
        inputs: {
          images,
          username: bed.reg1User,
          password: bed.reg1Pass,
          tags: 'type=raw,value=x',
          context: makeContext(),
        },
      });
      expect(r.code).toBe(1);
      const errors = errorLines(r.log);
      expect(errors).toHaveLength(1);
      expect(errors[0]).toContain('Input "images"');
      expect(errors[0]).toContain(`"${images}"`);
      expect(errors[0]).toContain('put the user or organisation in front, like acme/myapp');
      expect(trap.calls()).toEqual([]);
      expect(r.children).toEqual([]);
      expect(proxy.requests.slice(before)).toEqual([]);
      expect(r.post.log).toBe('');
      expectNoLeak(r, secrets);
    },
  );

  it('the debug log shows a build argument by its name, not its value', async () => {
    const value = `not-for-the-log-${Date.now()}`;
    const r = await runAction({
      event: events.branch('main'),
      inputs: {
        images: `${bed.reg1}/${uniqueRepo('args')}`,
        registry: bed.reg1,
        username: bed.reg1User,
        password: bed.reg1Pass,
        tags: 'type=raw,value=x',
        context: makeContext(64, 'FROM scratch\nARG API_KEY\nCOPY payload.bin /payload.bin\n'),
        'build-args': `API_KEY=${value}`,
      },
    });
    expect(r.code).toBe(0);
    expect(r.log).toMatch(/^::debug::docker build .*--build-arg API_KEY=\*\*\* /m);
    expect(r.log).not.toContain(value);
    // It did reach docker, on its command line, as the input asks.
    expect(r.children.some((c) => c.program === 'docker' && c.argv.includes(`API_KEY=${value}`))).toBe(true);
    expectNoLeak(r, secrets);
  });
});
