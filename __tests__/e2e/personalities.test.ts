/**
 * Issue 11: the bundled action publishes through the test bed's registry wearing, one at a
 * time, the personalities of the registries people push to (see __tests__/helpers/
 * personalities.ts). Each image is then fetched whole by skopeo from the registry itself, and
 * the proxy's log shows the client took the way round each quirk (and did not send a blob twice).
 * Each personality runs in front of the htpasswd and the token registry (but `basic-upper`,
 * a Basic challenge by definition).
 */
import { beforeAll, describe, expect, it } from '@jest/globals';
import { startPersonality, type LoggedRequest, type PersonalityProxy } from '../helpers/personality.js';
import type { PersonalityName } from '../helpers/personalities.js';
import { skopeoFetch } from '../helpers/skopeo.js';
import {
  events,
  expectNoLeak,
  makeContext,
  runAction,
  secretForms,
  testBed,
  type Env,
  type Event,
  type Result,
} from './harness.js';
import { REGISTRY_KINDS, registryOfKind, type RegistryUnderTest } from './registries.js';

let bed: Env;
/** The htpasswd registry (the flows outside the per-kind describe), and every secret of both kinds. */
let reg1: RegistryUnderTest;
let secrets: string[];

beforeAll(() => {
  bed = testBed();
  reg1 = registryOfKind(bed, 'htpasswd');
  const token = registryOfKind(bed, 'token');
  secrets = [...secretForms(reg1.user, reg1.pass), ...secretForms(token.user, token.pass)];
});

const errorLines = (r: Result) => r.log.split('\n').filter((l) => l.startsWith('::error'));
const retryLines = (r: Result) => r.log.split('\n').filter((l) => /; retrying in \d/.test(l));
const ok = (s: number) => s >= 200 && s < 300;

const isUpload = (repo: string) => (q: LoggedRequest) =>
  q.server === 'registry' &&
  (q.method === 'PATCH' || q.method === 'PUT') &&
  q.path.startsWith(`/v2/${repo}/blobs/uploads/`);

/** Blob bytes the registry accepted for `repo` (requests answered 2xx), from `since` on. */
function acceptedBytes(p: PersonalityProxy, repo: string, since = 0): number {
  return p.log
    .filter((q) => q.startedAt > since && isUpload(repo)(q) && ok(q.status))
    .reduce((n, q) => n + q.bytes, 0);
}

const requests = (p: PersonalityProxy, method: string, re: RegExp, since = 0) =>
  p.log.filter(
    (q) => q.startedAt > since && q.server === 'registry' && q.method === method && re.test(q.path),
  );

interface Landed {
  digest: string;
  /** Sizes of the config and every layer: what one upload of each blob sends. */
  blobBytes: number;
  configBytes: number;
  mediaType: string;
}

/** What the registry itself holds under `tag`, and skopeo fetches it whole. */
async function landed(reg: RegistryUnderTest, repo: string, tag: string): Promise<Landed> {
  const m = await reg.probe.manifest(repo, tag);
  if (!m) throw new Error(`no ${repo}:${tag} in the registry`);
  const fetched = await skopeoFetch(reg.host, `${repo}:${tag}`, reg.user, reg.pass);
  expect(fetched.manifest.config.digest).toBe(m.body.config.digest);
  expect(fetched.manifest.layers.map((l) => l.digest)).toEqual(
    (m.body.layers as { digest: string }[]).map((l) => l.digest),
  );
  const layers = (m.body.layers as { size: number }[]).reduce((n, l) => n + l.size, 0);
  return {
    digest: m.digest,
    blobBytes: layers + (m.body.config.size as number),
    configBytes: m.body.config.size as number,
    mediaType: m.body.mediaType as string,
  };
}

interface Run {
  result: Result;
  /** The proxy log position when the run started. */
  since: number;
}

interface Case {
  name: PersonalityName;
  mimics: string;
  /** Also push to a second repository on the same registry (mounts). */
  twoRepos?: boolean;
  /** Publish twice from one context (the second run reads the image the first one pushed). */
  twice?: boolean;
  check(p: PersonalityProxy, runs: Run[], repos: string[], image: Landed): void;
}

const TAGS = ['one', 'two', 'three'];

const cases: Case[] = [
  {
    name: 'length-required',
    mimics: 'GAR: a body without Content-Length is 411',
    check: (p, [run], [repo], image) => {
      expect(requests(p, 'PATCH', /./).map((q) => q.status)).toEqual([411]);
      // Every blob went up once, as POST + PUT with its length.
      expect(acceptedBytes(p, repo!)).toBe(image.blobBytes);
      expect(p.log.filter((q) => isUpload(repo!)(q) && ok(q.status) && q.chunked)).toEqual([]);
      expect(run!.result.log.match(/sending blobs with POST \+ PUT/g)).toHaveLength(1);
    },
  },
  {
    name: 'chunked-refused',
    mimics: 'a registry that refuses chunked bodies with 400 BLOB_UPLOAD_INVALID',
    check: (p, [run], [repo], image) => {
      expect(p.log.filter((q) => q.chunked).map((q) => q.status)).toEqual([400]);
      expect(acceptedBytes(p, repo!)).toBe(image.blobBytes);
      expect(p.log.filter((q) => isUpload(repo!)(q) && ok(q.status) && q.chunked)).toEqual([]);
      expect(run!.result.log.match(/sending blobs with POST \+ PUT/g)).toHaveLength(1);
    },
  },
  {
    name: 'patch-refused',
    mimics: 'GAR (documented): PATCH is 405, monolithic uploads only',
    check: (p, [run], [repo], image) => {
      expect(requests(p, 'PATCH', /./).map((q) => q.status)).toEqual([405]);
      expect(acceptedBytes(p, repo!)).toBe(image.blobBytes);
      expect(run!.result.log.match(/sending blobs with POST \+ PUT/g)).toHaveLength(1);
    },
  },
  {
    name: 'patch-201',
    mimics: 'ECR: PATCH answers 201',
    check: (p, [run], [repo], image) => {
      const patches = requests(p, 'PATCH', /./);
      expect(patches.length).toBeGreaterThan(0);
      expect(patches.every((q) => q.status === 201)).toBe(true);
      // Streamed once: no blob went a second time from the spool.
      expect(acceptedBytes(p, repo!)).toBe(image.blobBytes);
      expect(requests(p, 'PUT', /\/blobs\/uploads\//).every((q) => q.bytes === 0)).toBe(true);
      expect(run!.result.log).not.toMatch(/sending it again|POST \+ PUT/);
    },
  },
  {
    name: 'mount-202',
    mimics: 'Nexus, ECR: a mount POST answers 202 with an upload session',
    twoRepos: true,
    check: (p, _runs, [a, b], image) => {
      const posts = requests(p, 'POST', new RegExp(`^/v2/${b}/blobs/uploads/`));
      // One POST per blob: the mount, answered 202; the upload went on in that session.
      expect(posts.every((q) => q.path.includes('mount=') && q.status === 202)).toBe(true);
      expect(requests(p, 'DELETE', /./)).toEqual([]);
      expect(acceptedBytes(p, a!)).toBe(image.blobBytes);
      expect(acceptedBytes(p, b!)).toBe(image.blobBytes);
    },
  },
  {
    name: 'mount-401',
    mimics: 'Harbor (source project missing), GitLab: a mount POST answers 401',
    twoRepos: true,
    check: (p, [run], [, b], image) => {
      const mounts = requests(p, 'POST', new RegExp(`^/v2/${b}/blobs/uploads/\\?.*mount=`));
      expect(mounts.length).toBeGreaterThan(0);
      expect(mounts.every((q) => q.status === 401)).toBe(true);
      expect(acceptedBytes(p, b!)).toBe(image.blobBytes);
      expect(run!.result.log).not.toMatch(/not logged in/);
    },
  },
  {
    name: 'blob-redirect',
    mimics: 'GHCR/Hub/ACR: blob GETs redirect to storage that refuses Authorization and expires',
    twice: true,
    check: (p, [, second], [repo], image) => {
      const storage = p.log.filter((q) => q.server === 'storage');
      // The config of the image pushed first was read: a stale URL (403), then a fresh one.
      expect(storage.map((q) => q.status)).toEqual([403, 200]);
      expect(storage.every((q) => !q.authorization)).toBe(true);
      // So the second run knew the layer was there, and sent only its new config.
      expect(acceptedBytes(p, repo!, second!.since)).toBe(image.configBytes);
    },
  },
  {
    name: 'no-digest-header',
    mimics: 'ECR, Red Hat, Nexus: no Docker-Content-Digest',
    twice: true,
    check: (p, [, second], [repo], image) => {
      expect(second!.result.outputs.digest).toBe(image.digest);
      expect(acceptedBytes(p, repo!, second!.since)).toBe(image.configBytes);
    },
  },
  {
    name: 'strict-manifests',
    mimics: 'zot: Docker media types refused (415); mediaType and Content-Type must agree',
    check: (p, [run], _repos, image) => {
      expect(image.mediaType).toBe('application/vnd.oci.image.manifest.v1+json');
      const puts = requests(p, 'PUT', /\/manifests\//);
      expect(puts.filter((q) => q.status === 415).length).toBeGreaterThan(0);
      for (const q of puts.filter((x) => ok(x.status))) expect(q.contentType).toBe(image.mediaType);
      expect(run!.result.outputs.digest).toBe(image.digest);
      expect(run!.result.log.match(/refuses Docker media types/g)).toHaveLength(1);
    },
  },
  {
    name: 'basic-upper',
    mimics: 'Nexus: `BASIC realm=`',
    check: (p) => {
      expect(p.log.some((q) => q.status === 401)).toBe(true);
    },
  },
  {
    name: 'name-unknown',
    mimics: 'ECR, GAR, Harbor: the repository exists (created beforehand)',
    check: () => {},
  },
  {
    name: 'pull-rate-limit',
    mimics: "Docker Hub's pull limit: manifest GETs 429, HEAD free",
    twice: true,
    check: (p, [first, second]) => {
      // A first push reads no manifest at all (HEAD says the tags are new).
      expect(requests(p, 'GET', /\/manifests\//).filter((q) => q.startedAt < second!.since)).toEqual([]);
      expect(requests(p, 'HEAD', /\/manifests\//).length).toBeGreaterThan(0);
      // The second reads the earlier image once, is refused, and does not wait an hour for it;
      // the classic builder's pull of the build cache (docker's own GET, a pull like any other
      // that Hub counts) is refused too, said as a warning, and the build goes on cold.
      const gets = requests(p, 'GET', /\/manifests\//, second!.since);
      expect(gets.filter((q) => !q.userAgent?.startsWith('docker/')).length).toBeLessThanOrEqual(1);
      expect(second!.result.log).toMatch(
        /::warning::Build cache \S+:buildcache-branch-main could not be pulled, building without it: .*toomanyrequests/,
      );
      for (const r of [first!, second!]) expect(retryLines(r.result)).toEqual([]);
      expect(second!.result.ms).toBeLessThan(45_000);
    },
  },
  {
    name: 'opaque-upload-state',
    mimics: 'GCR/GAR, Artifactory: upload Locations are opaque, their query is the state',
    twoRepos: true,
    check: (p, [run], [repo], image) => {
      // Every session continued at the Location it was given: none was refused as unknown.
      expect(p.log.filter((q) => q.status === 404 && /\/blobs\/uploads\//.test(q.path))).toEqual([]);
      expect(requests(p, 'PUT', /\/blobs\/uploads\/opaque-\d+\?_opaque=/).length).toBeGreaterThan(0);
      expect(acceptedBytes(p, repo!)).toBe(image.blobBytes);
      expect(retryLines(run!.result)).toEqual([]);
    },
  },
  {
    name: 'paged-tags',
    mimics: 'Quay, ECR: tags/list two at a time behind a relative opaque Link',
    twice: true,
    check: (p) => {
      expect(requests(p, 'GET', /\/tags\/list\?page=/).length).toBeGreaterThan(0);
    },
  },
];

function publish(
  reg: RegistryUnderTest,
  p: PersonalityProxy,
  repos: string[],
  context: string,
  event: Event,
  tags: string,
) {
  return runAction({
    event,
    secrets,
    inputs: {
      images: repos.map((r) => `${p.host}/${r}`).join('\n'),
      registry: p.host,
      username: reg.user,
      password: reg.pass,
      tags,
      flavor: 'latest=false',
      context,
    },
  });
}

// Every personality in front of the htpasswd registry, and in front of the token registry all
// but `basic-upper`, whose quirk is a Basic challenge (the token server is reached directly, as
// the registry's realm says; the quirks are the registry's, not its token server's).
const kindCases = REGISTRY_KINDS.flatMap((kind) =>
  cases.filter((c) => kind === 'htpasswd' || c.name !== 'basic-upper').map((c) => ({ ...c, kind })),
);

describe('publishing through registry personalities', () => {
  it.each(kindCases)('$name ($mimics; $kind registry): publishes, skopeo fetches it whole', async (c) => {
    const reg = registryOfKind(bed, c.kind);
    const repos = [reg.repo('pers'), ...(c.twoRepos ? [reg.repo('pers')] : [])];
    const p = await startPersonality(reg.host, c.name, { existing: repos });
    try {
      // Two layers and a config: three blobs, so a fallback shows it is remembered.
      const context = makeContext(300 * 1024, 'FROM scratch\nCOPY payload.bin /a\nCOPY payload.bin /b\n');
      const runs: Run[] = [];
      for (let i = 0; i < (c.twice ? 2 : 1); i++) {
        const since = Math.max(0, ...p.log.map((q) => q.answeredAt));
        const tags = TAGS.map((t) => `type=raw,value=${t}`).join('\n');
        const result = await publish(reg, p, repos, context, events.branch('main'), tags);
        if (result.code !== 0) console.log(`${c.name} run ${i + 1}:\n${result.log}`);
        expect(result.code).toBe(0);
        expect(errorLines(result)).toEqual([]);
        runs.push({ result, since });
      }
      const last = runs[runs.length - 1]!.result;
      const image = await landed(reg, repos[0]!, 'one');
      for (const repo of repos) {
        expect(await reg.probe.tags(repo)).toEqual([...TAGS].sort());
        for (const t of TAGS) expect((await reg.probe.manifest(repo, t))?.digest).toBe(image.digest);
        if (repo !== repos[0]) await landed(reg, repo, 'two');
      }
      expect(last.outputs.digest).toBe(image.digest);
      try {
        c.check(p, runs, repos, image);
      } catch (err) {
        console.log(`${c.name}: ${runs.map((r) => r.result.log).join('\n----\n')}\n${JSON.stringify(p.log)}`);
        throw err;
      }
      for (const r of runs) expectNoLeak(r.result, secrets);
    } finally {
      await p.close();
    }
  });
});

describe.each(REGISTRY_KINDS)('strict manifests and a multi-platform image (%s registry)', (kind) => {
  it('takes the OCI index and every platform manifest as sent: no refusal, Content-Type as mediaType', async () => {
    const reg = registryOfKind(bed, kind);
    const repo = reg.repo('pers');
    const p = await startPersonality(reg.host, 'strict-manifests', { existing: [repo] });
    try {
      const r = await runAction({
        event: events.branch('main'),
        secrets,
        inputs: {
          images: `${p.host}/${repo}`,
          registry: p.host,
          username: reg.user,
          password: reg.pass,
          tags: 'type=raw,value=multi',
          context: makeContext(64 * 1024),
          platforms: 'linux/amd64,linux/arm64',
        },
      });
      expect(errorLines(r)).toEqual([]);
      expect(r.code).toBe(0);
      const puts = requests(p, 'PUT', /\/manifests\//);
      expect(puts.length).toBe(3); // two platform manifests by digest, the index under the tag
      for (const q of puts) expect(ok(q.status)).toBe(true);
      const index = (await reg.probe.manifest(repo, 'multi'))!;
      expect(index.body.mediaType).toBe('application/vnd.oci.image.index.v1+json');
      for (const m of index.body.manifests as { digest: string; mediaType: string }[]) {
        expect(m.mediaType).toBe('application/vnd.oci.image.manifest.v1+json');
        const image = (await reg.probe.manifest(repo, m.digest))!.body;
        expect(image.mediaType).toBe('application/vnd.oci.image.manifest.v1+json');
        for (const l of image.layers as { mediaType: string }[])
          expect(l.mediaType).toBe('application/vnd.oci.image.layer.v1.tar+gzip');
      }
      expectNoLeak(r, secrets);
    } finally {
      await p.close();
    }
  }, 120_000);
});

describe('registries that truly cannot take the push', () => {
  it('name-unknown: a repository that does not exist fails at once, in one line that says to create it, nothing retried', async () => {
    const repo = reg1.repo('pers');
    const p = await startPersonality(reg1.host, 'name-unknown', { existing: [] });
    try {
      const r = await publish(reg1, p, [repo], makeContext(), events.branch('main'), 'type=raw,value=one');
      expect(r.code).toBe(1);
      expect(r.ms).toBeLessThan(10_000);
      expect(retryLines(r)).toEqual([]);
      const errors = errorLines(r);
      expect(errors).toHaveLength(1);
      expect(errors[0]).toContain(`the repository ${p.host}/${repo} does not exist on ${p.host}`);
      expect(errors[0]).toMatch(/Create it first/);
      // Refused once, never asked again: at most one POST (the first blob's), and no manifest.
      const posts = requests(p, 'POST', /\/blobs\/uploads\//);
      expect(posts.length).toBeGreaterThan(0);
      expect(posts.length).toBeLessThanOrEqual(2);
      expect(posts.every((q) => q.status === 404)).toBe(true);
      expect(requests(p, 'PUT', /./)).toEqual([]);
      expect(await reg1.probe.tags(repo)).toEqual([]);
      expectNoLeak(r, secrets);
    } finally {
      await p.close();
    }
  });
});

describe('tags listed page by page', () => {
  it('paged-tags: a newer release found only on the second page keeps latest where it is', async () => {
    const repo = reg1.repo('pers');
    const p = await startPersonality(reg1.host, 'paged-tags');
    try {
      const run = (version: string, tags: string) =>
        runAction({
          event: events.tag(version),
          secrets,
          inputs: {
            images: `${p.host}/${repo}`,
            registry: p.host,
            username: reg1.user,
            password: reg1.pass,
            tags,
            context: makeContext(),
          },
        });
      // Sorted, the tags are 0a, 0b | 2.0.0, latest: the release is on page two.
      const newer = await run(
        'v2.0.0',
        'type=raw,value=0a\ntype=raw,value=0b\ntype=semver,pattern={{version}}',
      );
      expect(newer.code).toBe(0);
      expect(await reg1.probe.tags(repo)).toEqual(['0a', '0b', '2.0.0', 'latest']);
      const older = await run('v1.1.0', 'type=semver,pattern={{version}}');
      expect(older.code).toBe(0);
      expect(requests(p, 'GET', /\/tags\/list\?page=p\w+$/).length).toBeGreaterThan(0);
      expect(older.log).toMatch(/Left .*:latest where it is: .*:2\.0\.0 is a newer release than 1\.1\.0/);
      expect((await reg1.probe.manifest(repo, 'latest'))?.digest).toBe(newer.outputs.digest);
      expect((await reg1.probe.manifest(repo, '1.1.0'))?.digest).toBe(older.outputs.digest);
    } finally {
      await p.close();
    }
  });
});
