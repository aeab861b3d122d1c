/**
 * Issue 15: an app built FROM a base that a registry holds. The pushed images list the base's
 * own layer digests everywhere, only about the app layer's bytes are uploaded to the base's
 * registry, the other registry gets the base's blobs as they are, and an unreadable base only
 * costs the reuse. Fault proxies in front of both registries count the bytes sent to them.
 */
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { execFile, spawn } from 'node:child_process';
import { promisify } from 'node:util';
import { randomBytes } from 'node:crypto';
import { mkdirSync, readdirSync, writeFileSync } from 'node:fs';
import * as path from 'node:path';
import { startFaultProxy, type FaultProxy } from '../helpers/faultproxy.js';
import { tempDir } from '../helpers/tmp.js';
import {
  E2E_BUILDER,
  events,
  expectNoLeak,
  RegistryProbe,
  runAction,
  secretForms,
  twoRegistries,
  SHA,
  type Env,
} from './harness.js';
import { REGISTRY_KINDS, registryAuthFor, registryOfKind, type RegistryUnderTest } from './registries.js';

let bed: Env;
let secrets: string[];
/** A recording proxy in front of each registry that may hold the base (htpasswd reg1, the token registry). */
let proxyOf: Partial<Record<(typeof REGISTRY_KINDS)[number], FaultProxy>> = {};
let p2: FaultProxy;
let probe2: RegistryProbe;
/** The flow under test: the registry holding the base, the proxy in front of it, a probe through it. */
let first: RegistryUnderTest;
let p1: FaultProxy;
let probe1: RegistryProbe;
let base = '';
let baseLayers: { digest: string; size: number }[] = [];
const APP_BYTES = 256 * 1024;

/** Async: the fault proxies run in this process and must keep answering while docker waits. */
function docker(args: string[], input?: string, extraEnv: Record<string, string> = {}): Promise<string> {
  return new Promise((resolve, reject) => {
    const child = spawn('docker', args, { env: { ...process.env, ...extraEnv } });
    let out = '';
    child.stdout.on('data', (c: Buffer) => (out += c.toString()));
    child.stderr.on('data', (c: Buffer) => (out += c.toString()));
    child.on('close', (code) => (code === 0 ? resolve(out) : reject(new Error(`docker ${args[0]}: ${out}`))));
    child.stdin.end(input ?? '');
  });
}

/** Text that compresses about 4:1, new every run, so no registry or daemon has seen it. */
function text(bytes: number): string {
  const words = 'alpha beta gamma delta request response error warning user session cache path'.split(' ');
  const rnd = randomBytes(bytes);
  const out: string[] = [];
  let n = 0;
  for (let i = 0; n < bytes; i++) {
    const line = `${words[rnd[i % rnd.length]! % words.length]} ${rnd.readUInt32LE(i % (rnd.length - 4))}\n`;
    out.push(line);
    n += line.length;
  }
  return out.join('');
}

/** Upload bytes a proxy passed on (PATCH/PUT to blobs/uploads), from anyone. */
const uploaded = (p: FaultProxy, from = 0) =>
  p.requests
    .slice(from)
    .filter((q) => (q.method === 'PATCH' || q.method === 'PUT') && /\/blobs\/uploads\//.test(q.path))
    .reduce((n, q) => n + (q.bytes ?? 0), 0);

beforeAll(async () => {
  ({ bed, secrets } = twoRegistries());
  proxyOf = { htpasswd: await startFaultProxy(bed.reg1), token: await startFaultProxy(bed.reg3) };
  p2 = await startFaultProxy(bed.reg2);
  probe2 = new RegistryProbe(p2.host, bed.reg2User, bed.reg2Pass);
});

/**
 * The base: two layers of text, pushed by the docker CLI to the first registry (on the token
 * registry a private repository: no anonymous pull), then removed from the daemon.
 */
async function pushBase(kind: (typeof REGISTRY_KINDS)[number]): Promise<void> {
  first = registryOfKind(bed, kind);
  p1 = proxyOf[kind]!;
  probe1 = new RegistryProbe(p1.host, first.user, first.pass);
  const ctx = tempDir('publish-image-base');
  writeFileSync(path.join(ctx, 'a.txt'), text(3 * 1024 * 1024));
  writeFileSync(path.join(ctx, 'b.txt'), text(3 * 1024 * 1024));
  writeFileSync(path.join(ctx, 'Dockerfile'), 'FROM scratch\nCOPY a.txt /a.txt\nCOPY b.txt /b.txt\n');
  base = `${p1.host}/${first.repo('private-base')}:1`;
  const cfg = tempDir('publish-image-basecfg');
  await docker(['login', '-u', first.user, '--password-stdin', p1.host], first.pass, {
    DOCKER_CONFIG: cfg,
  });
  await docker(['build', '-q', '-t', base, ctx]);
  await docker(['push', base], undefined, { DOCKER_CONFIG: cfg });
  await docker(['rmi', base]);
  const [repo, tag] = base.slice(p1.host.length + 1).split(':') as [string, string];
  baseLayers = (await probe1.manifest(repo, tag))!.body.layers;
  expect(baseLayers).toHaveLength(2);
  if (kind === 'token') expect(await anonymousPull(repo, tag)).toBe(401);
}

/** The status an anonymous pull of `repo:tag` from the token registry ends with. */
async function anonymousPull(repo: string, tag: string): Promise<number> {
  const url = `http://${bed.reg3}/v2/${repo}/manifests/${tag}`;
  const challenge = (await fetch(url)).headers.get('www-authenticate') ?? '';
  const param = (name: string) => new RegExp(`${name}="([^"]*)"`).exec(challenge)?.[1] ?? '';
  const tokenUrl = new URL(param('realm'));
  tokenUrl.searchParams.set('service', param('service'));
  tokenUrl.searchParams.set('scope', param('scope'));
  const { token } = (await (await fetch(tokenUrl)).json()) as { token: string };
  return (await fetch(url, { headers: { authorization: `Bearer ${token}` } })).status;
}

/** `registry-auth` for the first registry and reg2, under their proxies' names. */
const registryAuth = () =>
  registryAuthFor([
    { host: p1.host, user: first.user, pass: first.pass },
    { host: p2.host, user: bed.reg2User, pass: bed.reg2Pass },
  ]);
const allSecrets = () => [...secrets, ...secretForms(first.user, first.pass)];

afterAll(async () => {
  await proxyOf.htpasswd?.close();
  await proxyOf.token?.close();
  await p2?.close();
});

/** skopeo fetches the whole image (every blob checked against its digest). */
async function skopeoFetches(ref: string, user: string, pass: string, arch?: string): Promise<string[]> {
  const dir = tempDir('publish-image-skopeo');
  const auth = path.join(dir, 'auth.json');
  const host = ref.split('/')[0]!;
  const b64 = Buffer.from(`${user}:${pass}`).toString('base64');
  writeFileSync(auth, JSON.stringify({ auths: { [host]: { auth: b64 } } }));
  const out = path.join(dir, 'image');
  mkdirSync(out);
  await promisify(execFile)('skopeo', [
    'copy',
    '-q',
    '--authfile',
    auth,
    '--src-tls-verify=false',
    ...(arch ? ['--override-arch', arch] : []),
    `docker://${ref}`,
    `dir:${out}`,
  ]);
  return readdirSync(out);
}

describe.each(REGISTRY_KINDS)('an app FROM a base a registry holds (%s registry holds it)', (kind) => {
  let repo = '';
  let imageid = '';
  beforeAll(async () => {
    await pushBase(kind);
    repo = first.repo('reuse');
  }, 120_000);

  it('lists the base layer digests in every pushed manifest, uploads about the app layer, and skopeo fetches it', async () => {
    const ctx = tempDir('publish-image-app');
    writeFileSync(path.join(ctx, 'app.bin'), randomBytes(APP_BYTES));
    writeFileSync(path.join(ctx, 'Dockerfile'), `FROM ${base}\nCOPY app.bin /app.bin\n`);
    const before = [p1.requests.length, p2.requests.length] as const;
    const r = await runAction({
      event: events.pr(7, false),
      secrets: allSecrets(),
      inputs: {
        images: `${p1.host}/${repo}\n${p2.host}/${repo}`,
        'registry-auth': registryAuth(),
        context: ctx,
        'latest-forward-only': 'false',
      },
    });
    if (process.env.REUSE_LOG) console.log(r.log);
    expect(r.log).not.toContain('::error::');
    expect(r.code).toBe(0);
    expectNoLeak(r, allSecrets());
    imageid = r.outputs.imageid!;
    expect(r.log).toContain(`Base image: ${base}`);
    // With the classic builder and the cache on, the build's own push to the cache tag sent
    // the app layer and the tags are put registry to registry (build/relabel.ts).
    expect(r.log).toMatch(/Publishing by (daemon push|export|registry copy: the build put its blobs)/);
    const tags = ['pr-7', `sha-${SHA.slice(0, 7)}`];
    for (const [probe, host] of [
      [probe1, p1.host],
      [probe2, p2.host],
    ] as const)
      for (const tag of tags) {
        const m = (await probe.manifest(repo, tag))!;
        expect(m).toBeDefined();
        expect(m.body.layers.slice(0, 2).map((l: { digest: string }) => l.digest)).toEqual(
          baseLayers.map((l) => l.digest),
        );
        const files = await skopeoFetches(
          `${host}/${repo}:${tag}`,
          probe === probe1 ? first.user : bed.reg2User,
          probe === probe1 ? first.pass : bed.reg2Pass,
        );
        for (const l of m.body.layers as { digest: string }[]) expect(files).toContain(l.digest.slice(7));
      }
    const baseBytes = baseLayers.reduce((n, l) => n + l.size, 0);
    // The base's registry gets the app layer (random bytes: stored, about its size) and the config.
    const sent1 = uploaded(p1, before[0]);
    expect(sent1).toBeGreaterThan(APP_BYTES * 0.9);
    expect(sent1).toBeLessThan(APP_BYTES * 1.2 + 64 * 1024);
    // The other registry gets the base's blobs as they are, plus the app layer and the config.
    const sent2 = uploaded(p2, before[1]);
    expect(sent2).toBeGreaterThan(baseBytes);
    expect(sent2).toBeLessThan(baseBytes + APP_BYTES * 1.2 + 64 * 1024);
    const meta = JSON.parse(r.outputs.metadata!) as {
      path: string;
      reuse: Record<string, Record<string, { layers: number; bytes: number }>>;
    };
    expect(meta.reuse[p1.host]!.mounted).toEqual({ layers: 2, bytes: baseBytes });
    expect(meta.reuse[p2.host]!.copied.layers).toBeGreaterThanOrEqual(2);
    expect(r.summary).toContain('| registry | reused | mounted | copied | uploaded |');
  }, 120_000);

  it('a base the daemon has no record of (mirrored by skopeo): exported, the base layers mounted, not sent', async () => {
    expect(imageid).toMatch(/^sha256:/);
    const dir = tempDir('publish-image-mirror');
    const auth = path.join(dir, 'auth.json');
    const b64 = (u: string, p: string) => Buffer.from(`${u}:${p}`).toString('base64');
    writeFileSync(
      auth,
      JSON.stringify({
        auths: {
          [p1.host]: { auth: b64(first.user, first.pass) },
          [p2.host]: { auth: b64(bed.reg2User, bed.reg2Pass) },
        },
      }),
    );
    const mirror = `${p2.host}/${first.repo('mirror')}:1`;
    await promisify(execFile)('skopeo', [
      'copy',
      '-q',
      '--authfile',
      auth,
      '--src-tls-verify=false',
      '--dest-tls-verify=false',
      `docker://${base}`,
      `docker://${mirror}`,
    ]);
    const repo3 = first.repo('reuse');
    const before = p2.requests.length;
    const r = await runAction({
      event: events.pr(9, false),
      secrets: allSecrets(),
      inputs: {
        images: `${p2.host}/${repo3}`,
        'registry-auth': registryAuth(),
        source: imageid,
        base: mirror,
        'latest-forward-only': 'false',
      },
    });
    expect(r.code).toBe(0);
    expect(r.log).toContain(`Base image: ${mirror}`);
    expect(r.log).toContain('Publishing by export');
    const m = (await probe2.manifest(repo3, 'pr-9'))!;
    expect(m.body.layers.slice(0, 2).map((l: { digest: string }) => l.digest)).toEqual(
      baseLayers.map((l) => l.digest),
    );
    const sent = uploaded(p2, before);
    expect(sent).toBeLessThan(APP_BYTES * 1.2 + 64 * 1024);
    const meta = JSON.parse(r.outputs.metadata!) as {
      path: string;
      reuse: Record<string, Record<string, { layers: number }>>;
    };
    expect(meta.path).toBe('export');
    expect(meta.reuse[p2.host]!.mounted!.layers).toBe(2);
    expect(meta.reuse[p2.host]!.uploaded!.layers).toBe(1);
  }, 120_000);

  // Classic builds only: BuildKit pulls a base into its own store, so the daemon holds no image
  // (and no registry record) of it to name; a BuildKit build's base comes from its FROM line.
  (E2E_BUILDER === 'classic' ? it : it.skip)(
    'a source image with no base input: the daemon names the base it was built on, and it is reused',
    async () => {
      expect(imageid).toMatch(/^sha256:/);
      const repo5 = first.repo('reuse');
      const before = p1.requests.length;
      const r = await runAction({
        event: events.pr(13, false),
        secrets: allSecrets(),
        inputs: {
          images: `${p1.host}/${repo5}`,
          'registry-auth': registryAuth(),
          source: imageid,
          'latest-forward-only': 'false',
        },
      });
      expect(r.log).not.toContain('::error::');
      expect(r.code).toBe(0);
      const [baseRepo] = base.slice(p1.host.length + 1).split(':') as [string];
      expect(r.log).toMatch(
        new RegExp(
          `Base image: ${p1.host}/${baseRepo}@sha256:[0-9a-f]{64} \\(the daemon's record of the image`,
        ),
      );
      const m = (await probe1.manifest(repo5, 'pr-13'))!;
      expect(m.body.layers.slice(0, 2).map((l: { digest: string }) => l.digest)).toEqual(
        baseLayers.map((l) => l.digest),
      );
      expect(uploaded(p1, before)).toBeLessThan(APP_BYTES * 1.2 + 64 * 1024);
    },
    60_000,
  );

  it('a base on a registry that does not answer costs seconds, not the retry budget', async () => {
    // Nothing listens on the last port of this test bed's range.
    const nowhere = `127.0.0.1:${process.env.REUSE_DEAD_PORT ?? '5169'}/acme/base:1`;
    const repo4 = first.repo('reuse');
    const started = Date.now();
    const r = await runAction({
      event: events.pr(10, false),
      secrets: allSecrets(),
      inputs: {
        images: `${p1.host}/${repo4}`,
        'registry-auth': registryAuth(),
        source: imageid,
        base: nowhere,
        'latest-forward-only': 'false',
      },
    });
    expect(r.code).toBe(0);
    expect(
      r.log.split('\n').filter((l) => l.includes(`Base image ${nowhere} could not be read`)),
    ).toHaveLength(1);
    expect(Date.now() - started).toBeLessThan(5_000);
    expect(await probe1.tags(repo4)).toEqual(['pr-10', `sha-${SHA.slice(0, 7)}`]);
  }, 60_000);

  it('reports a base it cannot read in one line and still pushes, by uploading', async () => {
    expect(imageid).toMatch(/^sha256:/);
    const repo2 = first.repo('reuse');
    const [baseRepo] = base.slice(p1.host.length + 1).split(':') as [string];
    p1.addFault({
      method: 'GET',
      path: new RegExp(`^/v2/${baseRepo}/manifests/`),
      times: 10,
      action: {
        status: 403,
        body: JSON.stringify({
          errors: [{ code: 'DENIED', message: 'requested access to the resource is denied' }],
        }),
      },
    });
    const before = p1.requests.length;
    try {
      const r = await runAction({
        event: events.pr(8, false),
        secrets: allSecrets(),
        inputs: {
          images: `${p1.host}/${repo2}`,
          'registry-auth': registryAuth(),
          source: imageid,
          base,
          'latest-forward-only': 'false',
        },
      });
      expect(r.code).toBe(0);
      const lines = r.log.split('\n').filter((l) => l.includes(`Base image ${base}`));
      expect(lines).toHaveLength(1);
      expect(lines[0]).toMatch(/could not be read .*uploaded instead of reused/);
      expect(r.log).toContain('Publishing by export');
      const m = (await probe1.manifest(repo2, 'pr-8'))!;
      expect(m.body.layers).toHaveLength(3);
      // Everything was compressed and sent here: more than the app layer alone.
      expect(uploaded(p1, before)).toBeGreaterThan(APP_BYTES + 500 * 1024);
    } finally {
      p1.clearFaults();
    }
  }, 120_000);
});

/**
 * A multi-platform base (an index over an amd64 and an arm64 image, each two layers of its own
 * text), made by the docker CLI alone: `build --platform`, `push`, `manifest create` and
 * `manifest push`; then removed from the daemon. Returns each platform's base layer digests.
 */
async function pushMultiBase(ref: string, host: string, user: string, pass: string) {
  const cfg = tempDir('publish-image-basecfg');
  const env = { DOCKER_CONFIG: cfg };
  await docker(['login', '-u', user, '--password-stdin', host], pass, env);
  const parts: string[] = [];
  for (const arch of ['amd64', 'arm64']) {
    const ctx = tempDir('publish-image-base');
    writeFileSync(path.join(ctx, 'a.txt'), text(1024 * 1024));
    writeFileSync(path.join(ctx, 'b.txt'), text(1024 * 1024));
    writeFileSync(path.join(ctx, 'Dockerfile'), 'FROM scratch\nCOPY a.txt /a.txt\nCOPY b.txt /b.txt\n');
    const part = `${ref}-${arch}`;
    await docker(['build', '-q', '--platform', `linux/${arch}`, '-t', part, ctx]);
    await docker(['push', part], undefined, env);
    parts.push(part);
  }
  await docker(['manifest', 'create', '--insecure', ref, ...parts], undefined, env);
  await docker(['manifest', 'push', '--insecure', ref], undefined, env);
  await docker(['rmi', ...parts]);
}

describe.each(REGISTRY_KINDS)(
  'a multi-platform app FROM a multi-platform base (%s registry holds it)',
  (kind) => {
    let mbase = '';
    let baseRepo = '';
    /** linux/<arch> -> the base's layer digests for that platform. */
    const baseOf: Record<string, string[]> = {};
    beforeAll(async () => {
      first = registryOfKind(bed, kind);
      p1 = proxyOf[kind]!;
      probe1 = new RegistryProbe(p1.host, first.user, first.pass);
      baseRepo = first.repo('multi-base');
      mbase = `${p1.host}/${baseRepo}:1`;
      await pushMultiBase(mbase, p1.host, first.user, first.pass);
      const index = (await probe1.manifest(baseRepo, '1'))!.body;
      expect(index.manifests).toHaveLength(2);
      for (const m of index.manifests as { digest: string; platform: { architecture: string } }[]) {
        const image = (await probe1.manifest(baseRepo, m.digest))!.body;
        baseOf[`linux/${m.platform.architecture}`] = image.layers.map((l: { digest: string }) => l.digest);
      }
    }, 180_000);

    it('each platform lists its own base layer digests in both registries; only the app layer is uploaded', async () => {
      const ctx = tempDir('publish-image-app');
      writeFileSync(path.join(ctx, 'app.bin'), randomBytes(APP_BYTES));
      writeFileSync(path.join(ctx, 'Dockerfile'), `FROM ${mbase}\nCOPY app.bin /app.bin\n`);
      const repo = first.repo('multi-reuse');
      const before = [p1.requests.length, p2.requests.length] as const;
      const r = await runAction({
        event: events.pr(11, false),
        secrets: allSecrets(),
        inputs: {
          images: `${p1.host}/${repo}\n${p2.host}/${repo}`,
          'registry-auth': registryAuth(),
          context: ctx,
          platforms: 'linux/amd64,linux/arm64',
          'latest-forward-only': 'false',
        },
      });
      if (process.env.REUSE_LOG) console.log(r.log);
      expect(r.log).not.toContain('::error::');
      expect(r.code).toBe(0);
      expectNoLeak(r, allSecrets());
      expect(r.log).toContain(`Base image: ${mbase}`);
      const appLayers = new Set<string>();
      for (const [probe, host, user, pass] of [
        [probe1, p1.host, first.user, first.pass],
        [probe2, p2.host, bed.reg2User, bed.reg2Pass],
      ] as const) {
        const index = (await probe.manifest(repo, 'pr-11'))!.body;
        expect(index.manifests).toHaveLength(2);
        for (const m of index.manifests as { digest: string; platform: { architecture: string } }[]) {
          const platform = `linux/${m.platform.architecture}`;
          const image = (await probe.manifest(repo, m.digest))!.body;
          expect(image.layers.slice(0, 2).map((l: { digest: string }) => l.digest)).toEqual(baseOf[platform]);
          expect(image.layers).toHaveLength(3);
          appLayers.add(image.layers[2].digest);
          const files = await skopeoFetches(`${host}/${repo}:pr-11`, user, pass, m.platform.architecture);
          for (const l of image.layers as { digest: string }[]) expect(files).toContain(l.digest.slice(7));
        }
      }
      // Each platform's app layer (one blob when both builds made the same tar), two configs and
      // manifests; none of the four base layers.
      const apps = appLayers.size;
      const sent1 = uploaded(p1, before[0]);
      expect(sent1).toBeGreaterThan(APP_BYTES * 0.9);
      expect(sent1).toBeLessThan(apps * APP_BYTES * 1.2 + 64 * 1024);
      const baseBytes = (
        await Promise.all(
          Object.values(baseOf)
            .flat()
            .map(async (d) => (await probe1.blob(baseRepo, d)).length),
        )
      ).reduce((a, b) => a + b, 0);
      const sent2 = uploaded(p2, before[1]);
      expect(sent2).toBeGreaterThan(baseBytes);
      expect(sent2).toBeLessThan(baseBytes + apps * APP_BYTES * 1.2 + 64 * 1024);
      const meta = JSON.parse(r.outputs.metadata!) as {
        reuse: Record<string, Record<string, { layers: number; bytes: number }>>;
      };
      expect(meta.reuse[p1.host]!.mounted).toEqual({ layers: 4, bytes: baseBytes });
      expect(meta.reuse[p2.host]!.copied).toEqual({ layers: 4, bytes: baseBytes });
      expect(meta.reuse[p1.host]!.uploaded.layers).toBe(apps);
      expect(r.summary).toContain('| registry | reused | mounted | copied | uploaded |');
    }, 180_000);

    it("a push-by-digest leg of one platform reuses that platform's base layers too", async () => {
      const ctx = tempDir('publish-image-app');
      writeFileSync(path.join(ctx, 'app.bin'), randomBytes(APP_BYTES));
      writeFileSync(path.join(ctx, 'Dockerfile'), `FROM ${mbase}\nCOPY app.bin /app.bin\n`);
      const repo = first.repo('leg-reuse');
      const before = p1.requests.length;
      const r = await runAction({
        event: events.pr(12, false),
        secrets: allSecrets(),
        inputs: {
          images: `${p1.host}/${repo}`,
          'registry-auth': registryAuth(),
          context: ctx,
          platforms: 'linux/arm64',
          'push-by-digest': 'true',
        },
      });
      expect(r.log).not.toContain('::error::');
      expect(r.code).toBe(0);
      const image = (await probe1.manifest(repo, r.outputs.digest!))!.body;
      expect(image.layers.slice(0, 2).map((l: { digest: string }) => l.digest)).toEqual(
        baseOf['linux/arm64'],
      );
      expect(uploaded(p1, before)).toBeLessThan(APP_BYTES * 1.2 + 64 * 1024);
    }, 120_000);
  },
);
