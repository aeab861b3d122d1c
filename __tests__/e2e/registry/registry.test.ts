import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { execFile, spawn } from 'node:child_process';
import { randomBytes, createHash } from 'node:crypto';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { promisify } from 'node:util';
import type { Logger } from '../../../src/log.js';
import { RegistryClient } from '../../../src/registry/client.js';
import { copyImage, putTags } from '../../../src/engine/copy.js';
import { staticCredentials } from '../../../src/registry/credentials.js';
import { buildImageIndex } from '../../../src/registry/oci.js';
import { RegistryError, type RetryPolicy } from '../../../src/registry/retry.js';
import { pushSavedImage, type PushedImage } from '../../../src/engine/upload.js';
import { startFaultProxy, type FaultProxy } from '../../helpers/faultproxy.js';

const env = process.env;
const haveEnv = Boolean(
  env.REG1 && env.REG1_USER && env.REG1_PASS && env.REG2 && env.REG2_USER && env.REG2_PASS && env.DOCKER_HOST,
);

/** Fast retries so fault tests finish quickly; same shape as DEFAULT_RETRY. */
const FAST: RetryPolicy = { attempts: 4, baseDelayMs: 50, maxDelayMs: 200, totalMs: 10_000 };

const run = promisify(execFile);

function memoryLog(): Logger & { lines: string[] } {
  const lines: string[] = [];
  return {
    lines,
    debug: () => {},
    info: (m) => lines.push(m),
    warning: (m) => lines.push(`warning: ${m}`),
  };
}

function dockerSave(image: string): Readable {
  const child = spawn('docker', ['save', image], { stdio: ['ignore', 'pipe', 'inherit'] });
  child.on('exit', (code) => {
    if (code !== 0) child.stdout.destroy(new Error(`docker save ${image} exited ${code}`));
  });
  return child.stdout;
}

if (!haveEnv) {
  describe('registry client e2e', () => {
    it.skip('needs REG1/REG2 registries and DOCKER_HOST: run `bash scripts/env.sh up` and source /tmp/publish-image-env/env', () => {});
  });
} else {
  const reg1 = env.REG1!;
  const reg2 = env.REG2!;
  const creds = staticCredentials({
    [reg1]: { username: env.REG1_USER!, password: env.REG1_PASS! },
    [reg2]: { username: env.REG2_USER!, password: env.REG2_PASS! },
  });
  const run_id = `${Date.now().toString(36)}${randomBytes(2).toString('hex')}`;
  const repo = `e2e/app-${run_id}`;
  const images: Record<string, string> = {};
  const clients: RegistryClient[] = [];
  let work = '';

  const client = (
    registry: string,
    log: Logger = memoryLog(),
    policy: RetryPolicy = FAST,
    credentials = creds,
  ) => {
    const c = new RegistryClient({ registry, credentials, log, policy, timeoutMs: 20_000 });
    clients.push(c);
    return c;
  };

  beforeAll(async () => {
    work = await mkdtemp(join(tmpdir(), 'registry-e2e-'));
    for (const arch of ['amd64', 'arm64']) {
      const ctx = join(work, `ctx-${arch}`);
      await run('mkdir', ['-p', ctx]);
      await writeFile(join(ctx, 'big.bin'), randomBytes(3 * 1024 * 1024));
      await writeFile(join(ctx, 'small.txt'), `hello ${arch} ${run_id}\n`);
      await writeFile(
        join(ctx, 'Dockerfile'),
        'FROM scratch\nCOPY big.bin /big.bin\nCOPY small.txt /small.txt\n',
      );
      const tag = `registry-e2e-${run_id}:${arch}`;
      await run('docker', ['build', '--platform', `linux/${arch}`, '--no-cache', '-q', '-t', tag, ctx], {
        env: { ...env, DOCKER_BUILDKIT: '0' },
      });
      const { stdout } = await run('docker', ['image', 'inspect', '--format', '{{.Id}}', tag]);
      images[arch] = stdout.trim();
    }
  }, 120_000);

  afterAll(async () => {
    for (const c of clients) c.close();
    await run('docker', ['rmi', '-f', `registry-e2e-${run_id}:amd64`, `registry-e2e-${run_id}:arm64`]).catch(
      () => {},
    );
    if (work) await rm(work, { recursive: true, force: true });
  });

  describe('registry client e2e', () => {
    let pushed: PushedImage;

    it('pushes a docker-save stream by digest to two registries at once, without tags', async () => {
      const log = memoryLog();
      const c1 = client(reg1, log);
      const c2 = client(reg2, log);
      pushed = await pushSavedImage(
        dockerSave(images.amd64!),
        [
          { client: c1, repo },
          { client: c2, repo },
        ],
        { tmpDir: work, log },
      );
      expect(pushed.digest).toMatch(/^sha256:[0-9a-f]{64}$/);
      expect(pushed.mediaType).toBe('application/vnd.oci.image.manifest.v1+json');
      expect(pushed.platform).toEqual({ os: 'linux', architecture: 'amd64' });
      const manifest = JSON.parse(pushed.manifest.toString()) as {
        config: { digest: string };
        layers: unknown[];
      };
      expect(manifest.config.digest).toBe(images.amd64); // config bytes kept: digest = image id
      expect(manifest.layers).toHaveLength(2);
      for (const c of [c1, c2]) {
        expect(await c.headManifest(repo, pushed.digest)).toEqual({
          digest: pushed.digest,
          mediaType: pushed.mediaType,
          size: pushed.size,
        });
        expect(await c.hasBlob(repo, manifest.config.digest)).toBe(true);
        expect(await c.listTags(repo)).toEqual([]);
      }
      // The temporary layer files are gone.
      const { stdout } = await run('ls', ['-A', work]);
      expect(stdout.split('\n').filter((f) => f.startsWith('push-'))).toEqual([]);
    }, 60_000);

    it('pushing the same image again gives the same blobs and manifest: compression is deterministic', async () => {
      const log = memoryLog();
      const again = await pushSavedImage(dockerSave(images.amd64!), [{ client: client(reg1, log), repo }], {
        tmpDir: work,
        log,
      });
      expect(again.digest).toBe(pushed.digest);
      expect(again.manifest.equals(pushed.manifest)).toBe(true);
    }, 60_000);

    it('tags the manifest with PUTs and lists the tags', async () => {
      const c1 = client(reg1);
      const tags = await putTags(c1, repo, { body: pushed.manifest, mediaType: pushed.mediaType }, [
        '1.0.0',
        'latest',
      ]);
      expect(tags).toEqual({ '1.0.0': pushed.digest, latest: pushed.digest });
      expect((await c1.listTags(repo)).sort()).toEqual(['1.0.0', 'latest']);
      const got = await c1.getManifest(repo, '1.0.0');
      expect(got.body.equals(pushed.manifest)).toBe(true);
      expect(got.digest).toBe(pushed.digest);
      expect(await c1.headManifest(repo, 'nope')).toBeUndefined();
      expect(await c1.listTags(`e2e/missing-${run_id}`)).toEqual([]);
    });

    it('copies an image from reg1 to reg2 byte for byte', async () => {
      const log = memoryLog();
      const to = `e2e/copied-${run_id}`;
      const result = await copyImage({
        from: { client: client(reg1), repo, ref: '1.0.0' },
        to: { client: client(reg2), repo: to },
        tags: ['v1', 'stable'],
        log,
      });
      expect(result).toEqual({ v1: pushed.digest, stable: pushed.digest });
      const got = await client(reg2).getManifest(to, 'v1');
      expect(got.body.equals(pushed.manifest)).toBe(true);
      expect(log.lines.join('\n')).toMatch(/3 blobs \(3 uploaded, 0 mounted, 0 already there\)/);
    }, 60_000);

    it('builds a two-platform OCI index and copies it with its platform manifests', async () => {
      const log = memoryLog();
      const c1 = client(reg1, log);
      const arm = await pushSavedImage(dockerSave(images.arm64!), [{ client: c1, repo }], {
        tmpDir: work,
        log,
      });
      expect(arm.platform).toEqual({ os: 'linux', architecture: 'arm64' });
      const index = buildImageIndex(
        [pushed, arm].map((p) => ({
          digest: p.digest,
          size: p.size,
          mediaType: p.mediaType,
          platform: p.platform,
        })),
      );
      expect(await c1.putManifest(repo, 'multi', index.body, index.mediaType)).toBe(index.digest);
      const to = `e2e/multi-${run_id}`;
      const c2 = client(reg2, log);
      const result = await copyImage({
        from: { client: c1, repo, ref: 'multi' },
        to: { client: c2, repo: to },
        tags: ['multi'],
        log,
      });
      expect(result).toEqual({ multi: index.digest });
      const got = await c2.getManifest(to, 'multi');
      expect(got.mediaType).toBe('application/vnd.oci.image.index.v1+json');
      expect(got.body.equals(index.body)).toBe(true);
      expect((await c2.headManifest(to, arm.digest))?.digest).toBe(arm.digest);
      expect((await c2.headManifest(to, pushed.digest))?.digest).toBe(pushed.digest);
    }, 60_000);

    it('mounts blobs from another repository of the same registry instead of uploading', async () => {
      const proxy = await startFaultProxy(reg1);
      try {
        const log = memoryLog();
        const c = client(
          proxy.host,
          log,
          FAST,
          staticCredentials({ [proxy.host]: { username: env.REG1_USER!, password: env.REG1_PASS! } }),
        );
        const to = `e2e/mounted-${run_id}`;
        const result = await copyImage({
          from: { client: c, repo, ref: 'latest' },
          to: { client: c, repo: to },
          tags: ['m'],
          log,
        });
        expect(result).toEqual({ m: pushed.digest });
        const mounts = proxy.requests.filter((r) => r.method === 'POST' && r.path.includes('mount='));
        expect(mounts.map((r) => r.status)).toEqual([201, 201, 201]);
        expect(proxy.requests.some((r) => r.method === 'PUT' && r.path.includes('/blobs/uploads/'))).toBe(
          false,
        );
      } finally {
        await proxy.close();
      }
    });

    it('streams a large blob through getBlob into uploadBlob without buffering it', async () => {
      const size = 24 * 1024 * 1024;
      const chunk = randomBytes(1024 * 1024);
      const hash = createHash('sha256');
      for (let i = 0; i < size / chunk.length; i++) hash.update(chunk);
      const digest = `sha256:${hash.digest('hex')}`;
      const open = () =>
        Readable.from(
          (function* () {
            for (let i = 0; i < size / chunk.length; i++) yield chunk;
          })(),
        );
      const c1 = client(reg1);
      const c2 = client(reg2);
      await c1.uploadBlob(repo, digest, size, open);
      expect(await c1.hasBlob(repo, digest)).toBe(true);
      await c2.uploadBlob(repo, digest, size, () => c1.getBlob(repo, digest));
      expect(await c2.hasBlob(repo, digest)).toBe(true);
    }, 60_000);
  });

  describe('registry client e2e through a fault-injecting proxy', () => {
    let proxy: FaultProxy;
    let manifest: Buffer;
    const mediaType = 'application/vnd.oci.image.manifest.v1+json';
    const faultRepo = `e2e/faults-${run_id}`;

    const viaProxy = (log: Logger = memoryLog(), password = env.REG1_PASS!, policy = FAST) =>
      client(
        proxy.host,
        log,
        policy,
        staticCredentials({ [proxy.host]: { username: env.REG1_USER!, password } }),
      );

    /** A fresh small blob that the registry has not seen. */
    const freshBlob = () => {
      const data = randomBytes(256 * 1024);
      return { data, digest: `sha256:${createHash('sha256').update(data).digest('hex')}` };
    };

    beforeAll(async () => {
      proxy = await startFaultProxy(reg1);
      // A real manifest in the fault repo to PUT again under new tags.
      const log = memoryLog();
      const pushed = await pushSavedImage(
        dockerSave(images.amd64!),
        [{ client: viaProxy(log), repo: faultRepo }],
        {
          tmpDir: work,
          log,
        },
      );
      manifest = pushed.manifest;
    }, 60_000);

    afterAll(async () => {
      await proxy?.close();
    });

    /** Requests but the 401 a fresh client gets before it knows the auth challenge. */
    const answered = () => proxy.requests.filter((r) => r.status !== 401);
    const manifestPuts = () => answered().filter((r) => r.method === 'PUT' && r.path.includes('/manifests/'));
    const posts = () => answered().filter((r) => r.method === 'POST');

    it('survives two 503s on a manifest PUT, logging one line per retry', async () => {
      proxy.requests.length = 0;
      proxy.addFault({ method: 'PUT', path: /\/manifests\//, times: 2, action: { status: 503 } });
      const log = memoryLog();
      const digest = await viaProxy(log).putManifest(faultRepo, 'two-503', manifest, mediaType);
      expect(digest).toMatch(/^sha256:/);
      expect(manifestPuts().map((r) => r.status)).toEqual([503, 503, 201]);
      const retries = log.lines.filter((l) => l.includes('retrying in'));
      expect(retries).toHaveLength(2);
      expect(retries[0]).toMatch(
        new RegExp(
          `^PUT manifest ${faultRepo}:two-503 on ${proxy.host}: 503 Service Unavailable; retrying in \\d+\\.\\ds \\(attempt 2/4\\)$`,
        ),
      );
    });

    it('honours Retry-After: 1 on a 429 at the blob upload start', async () => {
      proxy.requests.length = 0;
      proxy.addFault({
        method: 'POST',
        path: /\/blobs\/uploads\/$/,
        times: 1,
        action: {
          status: 429,
          headers: { 'Retry-After': '1' },
          body: '{"errors":[{"code":"TOOMANYREQUESTS","message":"slow down"}]}',
        },
      });
      const { data, digest } = freshBlob();
      const log = memoryLog();
      const started = Date.now();
      await viaProxy(log).uploadBlob(faultRepo, digest, data.length, () => Readable.from([data]));
      expect(Date.now() - started).toBeGreaterThanOrEqual(950);
      expect(posts().map((r) => r.status)).toEqual([429, 202]);
      expect(log.lines.join('\n')).toMatch(/429 Too Many Requests; retrying in 1\.0s \(attempt 2\/4\)/);
    });

    it('survives a reset connection on a manifest PUT', async () => {
      proxy.requests.length = 0;
      proxy.addFault({ method: 'PUT', path: /\/manifests\//, times: 1, action: 'reset' });
      await viaProxy().putManifest(faultRepo, 'reset', manifest, mediaType);
      expect(manifestPuts().map((r) => r.status)).toEqual([0, 201]);
    });

    it('restarts a blob upload from a fresh POST when the PUT connection resets', async () => {
      proxy.requests.length = 0;
      proxy.addFault({ method: 'PUT', path: /\/blobs\/uploads\//, times: 1, action: 'reset' });
      const { data, digest } = freshBlob();
      let opened = 0;
      await viaProxy().uploadBlob(faultRepo, digest, data.length, () => {
        opened++;
        return Readable.from([data]);
      });
      expect(opened).toBe(2);
      expect(posts().map((r) => r.status)).toEqual([202, 202]);
      expect(await viaProxy().hasBlob(faultRepo, digest)).toBe(true);
    });

    it('survives a 502 on GET /v2/ and still checks the credentials', async () => {
      proxy.requests.length = 0;
      proxy.addFault({ method: 'GET', path: /^\/v2\/$/, times: 1, action: { status: 502 } });
      const c = viaProxy();
      await c.ping();
      proxy.addFault({ method: 'GET', path: /^\/v2\/$/, times: 1, action: { status: 502 } });
      await c.checkCredentials(faultRepo);
      const probes = proxy.requests.filter((r) => r.path === '/v2/').map((r) => r.status);
      expect(probes.slice(0, 3)).toEqual([502, 401, 502]);
    });

    it('gives up within bounded time when every manifest PUT answers 503, naming the status and the ref', async () => {
      proxy.requests.length = 0;
      proxy.addFault({ method: 'PUT', path: /\/manifests\//, times: 1000, action: { status: 503 } });
      const started = Date.now();
      try {
        const err = await viaProxy()
          .putManifest(faultRepo, '9.9.9', manifest, mediaType)
          .then(
            () => undefined,
            (e: unknown) => e,
          );
        expect(err).toBeInstanceOf(RegistryError);
        const re = err as RegistryError;
        expect(re.status).toBe(503);
        expect(re.retryable).toBe(true);
        expect(re.ref).toBe(`${faultRepo}:9.9.9`);
        expect(re.message).toContain(
          `registry ${proxy.host}: PUT manifest ${faultRepo}:9.9.9 answered 503 Service Unavailable`,
        );
        expect(re.message).toContain('gave up after 4 attempts');
        expect(manifestPuts()).toHaveLength(4);
        expect(Date.now() - started).toBeLessThan(5_000);
      } finally {
        proxy.clearFaults();
      }
    });

    it('fails fast and without retries on a wrong password (401 UNAUTHORIZED)', async () => {
      proxy.requests.length = 0;
      const c = viaProxy(memoryLog(), 'wrong-password', {
        attempts: 5,
        baseDelayMs: 500,
        maxDelayMs: 10_000,
        totalMs: 90_000,
      });
      const started = Date.now();
      const err = (await c.checkCredentials(faultRepo).then(
        () => undefined,
        (e: unknown) => e,
      )) as RegistryError;
      expect(err).toBeInstanceOf(RegistryError);
      expect(err).toMatchObject({ status: 401, code: 'UNAUTHORIZED', retryable: false });
      const put = (await c.putManifest(faultRepo, 'nope', manifest, mediaType).then(
        () => undefined,
        (e: unknown) => e,
      )) as RegistryError;
      expect(put).toMatchObject({ status: 401, code: 'UNAUTHORIZED', retryable: false });
      expect(Date.now() - started).toBeLessThan(2_000);
      expect(proxy.requests.length).toBeLessThanOrEqual(4);
    });
  });
}
