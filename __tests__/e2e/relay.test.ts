/**
 * Issue 7: the image leaves the daemon once (`docker save`), each layer is compressed once by
 * the action and streamed to every registry side by side. Fault proxies in front of both
 * registries record who sent what, so the tests can tell the daemon's requests from the action's.
 */
import { afterAll, beforeAll, beforeEach, describe, expect, it } from '@jest/globals';
import { createHash } from 'node:crypto';
import { gunzipSync } from 'node:zlib';
import { startFaultProxy, type FaultProxy, type RecordedRequest } from '../helpers/faultproxy.js';
import {
  expectNoLeak,
  fakeDocker,
  RegistryProbe,
  events,
  makeContext,
  runAction,
  type Env,
  twoRegistries,
  secretForms,
} from './harness.js';
import { REGISTRY_KINDS, registryAuthFor, registryOfKind, type RegistryUnderTest } from './registries.js';

let bed: Env;
let reg2: RegistryProbe;
let secrets: string[];
/** A recording proxy in front of each first registry (htpasswd reg1, the token registry) and of reg2. */
let proxyOf: Partial<Record<(typeof REGISTRY_KINDS)[number], FaultProxy>> = {};
let p2: FaultProxy;
/** The first registry of the flow under test, and the proxy in front of it. */
let first: RegistryUnderTest;
let p1: FaultProxy;

beforeAll(async () => {
  ({ bed, reg2, secrets } = twoRegistries());
  proxyOf = { htpasswd: await startFaultProxy(bed.reg1), token: await startFaultProxy(bed.reg3) };
  p2 = await startFaultProxy(bed.reg2);
});

afterAll(async () => {
  await proxyOf.htpasswd?.close();
  await proxyOf.token?.close();
  await p2?.close();
});

beforeEach(() => {
  p1.requests.length = 0;
  p2.requests.length = 0;
});

const registryAuth = () =>
  registryAuthFor([
    { host: p1.host, user: first.user, pass: first.pass },
    { host: p2.host, user: bed.reg2User, pass: bed.reg2Pass },
  ]);

/** Requests to `repo` whose method and the rest of the path match. */
const to = (proxy: FaultProxy, method: string, repo: string, rest: RegExp): RecordedRequest[] =>
  proxy.requests.filter(
    (q) =>
      q.method === method && q.path.startsWith(`/v2/${repo}/`) && rest.test(q.path.slice(repo.length + 5)),
  );

/** What the daemon asked of a registry, beyond the `GET /v2/` of `docker login`. */
const fromDaemon = (proxy: FaultProxy): RecordedRequest[] =>
  proxy.requests.filter((q) => q.agent.startsWith('docker/') && !(q.method === 'GET' && q.path === '/v2/'));

const UPLOAD_DATA = /^blobs\/uploads\/[^?]+(\?(?!.*mount=).*)?$/;
const UPLOAD_DONE = /^blobs\/uploads\/.*[?&]digest=sha256%3A|^blobs\/uploads\/.*[?&]digest=sha256:/;
const MOUNT = /^blobs\/uploads\/\?.*mount=sha256/;
const MANIFEST = /^manifests\/[^/]+$/;

const sha256 = (b: Buffer) => `sha256:${createHash('sha256').update(b).digest('hex')}`;

describe.each(REGISTRY_KINDS)(
  'one export, one compression, every registry at once (%s registry first)',
  (kind) => {
    let repoA = '';
    let repoB = '';
    let all: string[] = [];
    beforeAll(() => {
      first = registryOfKind(bed, kind);
      p1 = proxyOf[kind]!;
      repoA = first.repo('relay');
      repoB = first.repo('relay');
      all = [...secrets, ...secretForms(first.user, first.pass)];
    });
    const tags = ['one', 'three', 'two'];
    let imageid = '';
    let digest = '';

    const docker = fakeDocker({ passThrough: true });

    /** One run to repoA and repoB on the first registry and repoA on the second. */
    const publish = async (tagList: string[], inputs: Record<string, string>) => {
      const r = await runAction({
        event: events.branch('main'),
        secrets: all,
        env: docker.env,
        inputs: {
          images: [`${p1.host}/${repoA}`, `${p1.host}/${repoB}`, `${p2.host}/${repoA}`].join('\n'),
          'registry-auth': registryAuth(),
          tags: tagList.map((t) => `type=raw,value=${t}`).join('\n'),
          flavor: 'latest=false',
          ...inputs,
        },
      });
      if (r.code !== 0) console.log(r.log);
      return r;
    };

    it('to two registries and a second repository: no docker push, each blob goes once to each registry, the second repository mounts it, every tag is one manifest PUT', async () => {
      const r = await publish(tags, {
        // Two layers (one random, one that compresses) and a config: three blobs.
        context: makeContext(300 * 1024, 'FROM scratch\nCOPY payload.bin /a.bin\nCOPY Dockerfile /b\n'),
      });
      expect(r.code).toBe(0);
      digest = r.outputs.digest;
      imageid = r.outputs.imageid;
      expect(digest).toMatch(/^sha256:[a-f0-9]{64}$/);
      for (const [probe, repo] of [
        [first.probe, repoA],
        [first.probe, repoB],
        [reg2, repoA],
      ] as const) {
        expect(await probe.tags(repo)).toEqual(tags);
        for (const t of tags) expect((await probe.manifest(repo, t))?.digest).toBe(digest);
      }

      // The daemon pushed nothing: on the registries it did nothing but docker login.
      for (const p of [p1, p2]) expect(fromDaemon(p)).toEqual([]);
      const calls = docker.calls().map((c) => c.split(' ')[0]);
      expect(calls.filter((c) => c === 'push')).toEqual([]);
      expect(calls.filter((c) => c === 'save')).toHaveLength(1);

      // What the action compressed is the image the daemon holds: each layer, unzipped, is the
      // config's diff_id, and the config digest is the image id.
      const m = await reg2.manifest(repoA, 'one');
      expect(m!.body.mediaType).toBe('application/vnd.docker.distribution.manifest.v2+json');
      expect(m!.body.config.digest).toBe(imageid);
      const config = await reg2.config(repoA, 'one');
      const layers = m!.body.layers as { digest: string; mediaType: string }[];
      expect(layers).toHaveLength(2);
      for (const [i, l] of layers.entries()) {
        expect(l.mediaType).toBe('application/vnd.docker.image.rootfs.diff.tar.gzip');
        const blob = await reg2.blob(repoA, l.digest);
        expect(sha256(blob)).toBe(l.digest);
        expect(sha256(gunzipSync(blob))).toBe(config.rootfs.diff_ids[i]);
      }

      // Three blobs, each uploaded once to each registry's first repository...
      expect(to(p1, 'PUT', repoA, UPLOAD_DONE)).toHaveLength(3);
      expect(to(p2, 'PUT', repoA, UPLOAD_DONE)).toHaveLength(3);
      expect(to(p1, 'PATCH', repoA, UPLOAD_DATA).length).toBeGreaterThanOrEqual(2);
      // ...and mounted into the second repository of the same registry, never uploaded there.
      expect(to(p1, 'POST', repoB, MOUNT)).toHaveLength(3);
      expect(to(p1, 'PATCH', repoB, UPLOAD_DATA)).toEqual([]);
      // Each tag is exactly one manifest PUT per repository.
      for (const [p, repo] of [
        [p1, repoA],
        [p1, repoB],
        [p2, repoA],
      ] as const)
        expect(
          to(p, 'PUT', repo, MANIFEST)
            .map((q) => q.path.split('/').pop())
            // The build cache's entry is one more PUT of the same manifest (cache.test.ts).
            .filter((t) => !t!.startsWith('buildcache-'))
            .sort(),
        ).toEqual(tags);
      expectNoLeak(r, all);
    });

    it('publishing the same image again under a tag the registries have sends no blob at all: each tag is one manifest PUT', async () => {
      expect(imageid).not.toBe('');
      // `one` is pushed again (as `main` or `latest` are on every push), `four` is new.
      const again = ['four', 'one'];
      const r = await publish(again, { source: imageid, context: '/nonexistent' });
      expect(r.code).toBe(0);
      expect(r.outputs.digest).toBe(digest);
      expect(r.outputs.imageid).toBe(imageid);
      for (const p of [p1, p2]) {
        expect(fromDaemon(p)).toEqual([]);
        // No upload started, no mount: the layers were found under `one` on every target.
        expect(p.requests.filter((q) => q.method === 'POST' || q.method === 'PATCH')).toEqual([]);
      }
      for (const [probe, p, repo] of [
        [first.probe, p1, repoA],
        [first.probe, p1, repoB],
        [reg2, p2, repoA],
      ] as const) {
        expect(await probe.tags(repo)).toEqual(['four', ...tags]);
        expect(to(p, 'PUT', repo, MANIFEST)).toHaveLength(again.length);
      }
      expectNoLeak(r, all);
    });
  },
);
