/**
 * Pull request previews end to end: pushes of two pull requests and main to both registries
 * (reg1, or the token registry, deletes; reg2 has deletes disabled), then PR 7 closes. GitHub's
 * REST API and Docker Hub's web API are local fakes; the registries, dockerd and skopeo are real.
 */
import { afterAll, beforeAll, beforeEach, describe, expect, it } from '@jest/globals';
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { startGitHubFake, type GitHubFake } from '../helpers/githubfake.js';
import { startHubFake, type HubFake } from '../helpers/hubfake.js';
import {
  type Env,
  type Event,
  expectNoLeak,
  makeContext,
  type RegistryProbe,
  REPO,
  repositoryRecord,
  runAction,
  secretForms,
  twoRegistries,
  uniqueRepo,
} from './harness.js';
import {
  REGISTRY_KINDS,
  htpasswdRegistry,
  registryAuthFor,
  registryOfKind,
  tokenLog,
  type RegistryUnderTest,
} from './registries.js';

const run = promisify(execFile);
const GH_TOKEN = 'ghs_fake0123456789abcdefTOKEN';
const HUB = { username: 'hubuser', password: 'dckr_pat_fakeHUBtoken0123' };
let bed: Env;
let reg1: RegistryProbe;
let reg2: RegistryProbe;
let secrets: string[];
/** The registry that deletes (htpasswd reg1, or the token registry in the cleanup flow), reg2 beside it. */
let first: RegistryUnderTest;
const allSecrets = () => [...secrets, ...secretForms(first.user, first.pass)];
const registryAuth = () =>
  registryAuthFor([first, { host: bed.reg2, user: bed.reg2User, pass: bed.reg2Pass }]);
let github: GitHubFake;
let hub: HubFake;

beforeAll(async () => {
  ({ bed, reg1, reg2, secrets } = twoRegistries());
  github = await startGitHubFake({ token: GH_TOKEN, maxPerPage: 1 });
  hub = await startHubFake({ ...HUB, maxPageSize: 2 });
});
beforeEach(() => {
  first = htpasswdRegistry(bed); // the flows that are about GitHub's side run on reg1 only
});
afterAll(async () => {
  await github?.close();
  await hub?.close();
});

const sha = (c: string) => c.repeat(40);
const A1 = sha('a');
const A2 = sha('b');
const B1 = sha('c');
const M = sha('d');

function prEvent(
  n: number,
  head: string,
  action: string,
  o: { fork?: boolean; mergedAs?: string } = {},
): Event {
  return {
    name: 'pull_request',
    ref: `refs/pull/${n}/merge`,
    sha: sha('e'), // GitHub's merge commit
    payload: {
      action,
      number: n,
      repository: repositoryRecord(),
      pull_request: {
        number: n,
        merged: action === 'closed',
        merge_commit_sha: o.mergedAs ?? sha('7'),
        head: { sha: head, ref: `feature-${n}`, repo: { full_name: o.fork ? 'someone/api' : REPO } },
        base: { ref: 'main', repo: { full_name: REPO } },
      },
    },
  };
}

const mainPush: Event = {
  name: 'push',
  ref: 'refs/heads/main',
  sha: M,
  payload: { repository: repositoryRecord() },
};

/** The env a workflow of the README sets, plus the fakes' URLs. */
const apiEnv = () => ({
  GITHUB_API_URL: github.url,
  DOCKERHUB_API_URL: hub.url,
  DOCKER_METADATA_PR_HEAD_SHA: 'true',
});

function step(
  repo: string,
  event: Event,
  inputs: Record<string, string> = {},
  env: Record<string, string> = {},
) {
  return runAction({
    event,
    secrets: [...allSecrets(), GH_TOKEN, HUB.password],
    env: { ...apiEnv(), ...env },
    inputs: {
      images: `${first.host}/${repo}\n${bed.reg2}/${repo}`,
      'registry-auth': registryAuth(),
      context: makeContext(),
      'github-token': GH_TOKEN,
      'pr-comment': 'true',
      ...inputs,
    },
  });
}

/** skopeo's view: the tag resolves and its image can be read (exit 0), or not. */
async function skopeoInspect(
  host: string,
  user: string,
  pass: string,
  ref: string,
): Promise<string | undefined> {
  try {
    const { stdout } = await run('skopeo', [
      'inspect',
      '--tls-verify=false',
      '--creds',
      `${user}:${pass}`,
      `docker://${host}/${ref}`,
    ]);
    return (JSON.parse(stdout) as { Digest: string }).Digest;
  } catch {
    return undefined;
  }
}
const onFirst = (ref: string) => skopeoInspect(first.host, first.user, first.pass, ref);
const on2 = (ref: string) => skopeoInspect(bed.reg2, bed.reg2User, bed.reg2Pass, ref);

/**
 * A request with Basic credentials; on a Bearer challenge (the token registry) again with a
 * token for the scope it names, fetched with the same credentials.
 */
async function withAuth(user: string, pass: string, url: string, init: RequestInit = {}): Promise<Response> {
  const basic = `Basic ${Buffer.from(`${user}:${pass}`).toString('base64')}`;
  const headers = (auth: string) => ({ ...(init.headers as Record<string, string>), authorization: auth });
  const r = await fetch(url, { ...init, headers: headers(basic) });
  const challenge = r.headers.get('www-authenticate') ?? '';
  if (r.status !== 401 || !/^bearer /i.test(challenge)) return r;
  const param = (name: string) => new RegExp(`${name}="([^"]*)"`).exec(challenge)?.[1] ?? '';
  const tokenUrl = new URL(param('realm'));
  tokenUrl.searchParams.set('service', param('service'));
  tokenUrl.searchParams.set('scope', param('scope'));
  const { token } = (await (await fetch(tokenUrl, { headers: { authorization: basic } })).json()) as {
    token: string;
  };
  return fetch(url, { ...init, headers: headers(`Bearer ${token}`) });
}

/** Points `tag` at the manifest `from` names, as a hand-made retag would. */
async function retag(host: string, user: string, pass: string, repo: string, from: string, tag: string) {
  const accept =
    'application/vnd.oci.image.manifest.v1+json, application/vnd.docker.distribution.manifest.v2+json';
  const got = await withAuth(user, pass, `http://${host}/v2/${repo}/manifests/${from}`, {
    headers: { accept },
  });
  const type = got.headers.get('content-type')!;
  const body = Buffer.from(await got.arrayBuffer());
  const put = await withAuth(user, pass, `http://${host}/v2/${repo}/manifests/${tag}`, {
    method: 'PUT',
    headers: { 'content-type': type },
    body,
  });
  expect(put.status).toBe(201);
}

const commentsOf = (n: number) =>
  (github.comments.get(n) ?? []).filter((c) => c.body.includes('publish-image preview'));

describe('pull request previews', () => {
  it.each(REGISTRY_KINDS)(
    'PR 7 pushed twice, PR 8 and main pushed; PR 7 closes: its tags go everywhere they can, shared digests and other tags stay (%s registry first)',
    async (kind) => {
      first = registryOfKind(bed, kind);
      const repo = first.repo('preview');
      // Three comments of people first, so the action's own comment lands on a later page.
      github.comments.set(
        7,
        [1, 2, 3].map((id) => ({ id, body: `looks good ${id}`, user: { login: 'reviewer' } })),
      );

      let r = await step(repo, prEvent(7, A1, 'opened'));
      expect(r.code).toBe(0);
      expect(commentsOf(7)).toHaveLength(1);
      const firstComment = commentsOf(7)[0]!;
      expect(firstComment.body).toContain(`docker pull ${first.host}/${repo}:pr-7`);
      expect(firstComment.body).toContain(r.outputs.digest);

      r = await step(repo, prEvent(7, A2, 'synchronize'));
      expect(r.code).toBe(0);
      const pr7Digest = r.outputs.digest;
      expect(commentsOf(7)).toHaveLength(1); // updated, not a second one
      expect(commentsOf(7)[0]!.id).toBe(firstComment.id);
      expect(commentsOf(7)[0]!.body).toContain(pr7Digest);
      expect(commentsOf(7)[0]!.body).toContain(A2.slice(0, 7));
      expect(github.comments.get(7)!.filter((c) => c.user.login === 'reviewer')).toHaveLength(3);

      r = await step(repo, prEvent(8, B1, 'opened'));
      expect(r.code).toBe(0);
      const pr8Digest = r.outputs.digest;
      r = await step(repo, mainPush, { 'pr-comment': 'false' });
      expect(r.code).toBe(0);
      const mainDigest = r.outputs.digest;
      // A hand-made retag: sha-<A1> now names main's image, which closing PR 7 must not remove.
      for (const [host, user, pass] of [
        [first.host, first.user, first.pass],
        [bed.reg2, bed.reg2User, bed.reg2Pass],
      ] as const)
        await retag(host, user, pass, repo, 'main', `sha-${A1.slice(0, 7)}`);

      const pr7Tags = ['pr-7', `sha-${A1.slice(0, 7)}`, `sha-${A2.slice(0, 7)}`];
      const otherTags = ['main', 'latest', `sha-${M.slice(0, 7)}`, 'pr-8', `sha-${B1.slice(0, 7)}`];
      expect(await first.probe.tags(repo)).toEqual([...pr7Tags, ...otherTags].sort());

      // The same preview on Docker Hub and GHCR (fakes), with a 403 and a shared version.
      const hubRepo = `hubuser/${repo.split('/')[1]}`;
      hub.repos.set(hubRepo, new Set([...pr7Tags, ...otherTags]));
      hub.protectedTags.add(`sha-${A2.slice(0, 7)}`);
      const pkg = `acme/${repo.split('/')[1]}`;
      github.packages.set(pkg, [
        { id: 1, name: pr7Digest, tags: ['pr-7', `sha-${A2.slice(0, 7)}`] },
        {
          id: 2,
          name: mainDigest,
          tags: ['main', 'latest', `sha-${M.slice(0, 7)}`, `sha-${A1.slice(0, 7)}`],
        },
        { id: 3, name: pr8Digest, tags: ['pr-8', `sha-${B1.slice(0, 7)}`] },
        { id: 4, name: 'sha256:' + '1'.repeat(64), tags: [] },
      ]); // acme is a user here: the org endpoint answers 404 and the user one is used
      github.commits.set(7, [A1, A2]);
      const seenBefore = github.seen.length;
      const closeStarted = new Date().toISOString();

      const close = await step(repo, prEvent(7, A2, 'closed'), {
        images: [
          `${first.host}/${repo}`,
          `${bed.reg2}/${repo}`,
          `docker.io/${hubRepo}`,
          `ghcr.io/${pkg}`,
        ].join('\n'),
        'registry-auth': `${registryAuth()}\n- registry: docker.io\n  username: ${HUB.username}\n  password: ${HUB.password}`,
        context: '/nonexistent', // nothing is built: no checkout is needed
      });
      expect(close.code).toBe(0);
      expect(close.log).not.toMatch(/^::error::/m);

      // first.probe (deletes enabled): PR 7's tags are gone, including the one on main's digest.
      for (const t of pr7Tags) expect(await onFirst(`${repo}:${t}`)).toBeUndefined();
      expect(await onFirst(`${repo}:main`)).toBe(mainDigest);
      expect(await onFirst(`${repo}@${mainDigest}`)).toBe(mainDigest);
      expect(await onFirst(`${repo}:latest`)).toBe(mainDigest);
      expect(await onFirst(`${repo}:pr-8`)).toBe(pr8Digest);
      expect(await first.probe.tags(repo)).toEqual([...otherTags].sort());
      if (kind === 'token') {
        // Untagging on the token registry took a token that grants `delete` on this repository.
        const granted = tokenLog(bed, closeStarted, repo).flatMap((e) => e.granted ?? []);
        expect(granted.filter((g) => g.name === repo).some((g) => g.actions.includes('delete'))).toBe(true);
      }

      // reg2 (deletes disabled): everything stays, one line says why, the step still succeeds.
      expect(await reg2.tags(repo)).toEqual([...pr7Tags, ...otherTags].sort());
      expect(await on2(`${repo}:pr-7`)).toBe(pr7Digest);
      const disabledLines = close.log
        .split('\n')
        .filter((l) => l.includes('deletes disabled (405)') && l.startsWith('::'));
      expect(disabledLines).toHaveLength(1);
      expect(disabledLines[0]).toContain(`${bed.reg2}/${repo}`);

      // Docker Hub: tags deleted by name, the 403 one left and said.
      expect([...hub.repos.get(hubRepo)!].sort()).toEqual([...otherTags, `sha-${A2.slice(0, 7)}`].sort());
      // GHCR: the version with only PR 7's tags deleted; the one shared with main left.
      expect(github.packages.get(pkg)!.map((v) => v.id)).toEqual([2, 3, 4]);
      const apiCalls = github.seen.slice(seenBefore).map((s) => `${s.method} ${s.path}`);
      // One item a page (the fake's cap): every page was followed through the Link headers.
      expect(apiCalls.filter((c) => c.includes('/pulls/7/commits'))).toHaveLength(2);
      expect(apiCalls.filter((c) => c.startsWith('GET /orgs/acme/packages/'))).toHaveLength(1); // 404: a user
      expect(apiCalls.filter((c) => c.startsWith('GET /users/acme/packages/'))).toHaveLength(4);
      expect(
        hub.seen.filter(
          (x) =>
            x.method === 'GET' &&
            x.path.startsWith(`/v2/namespaces/hubuser/repositories/${repo.split('/')[1]}/tags`),
        ),
      ).toHaveLength(4);
      expect(
        apiCalls.some(
          (c) => c.startsWith('DELETE /users/acme/packages/container/') && c.endsWith('/versions/1'),
        ),
      ).toBe(true);

      const report = JSON.parse(close.outputs.cleanup!) as {
        tags: string[];
        removed: { ref: string; digest?: string; untagged?: string }[];
        left: { ref: string; why: string }[];
      };
      expect(report.tags).toEqual([...pr7Tags].sort());
      expect(report.removed.map((x) => x.ref).sort()).toEqual(
        [
          ...pr7Tags.map((t) => `${first.host}/${repo}:${t}`),
          // PR 7's build cache, kept beside the first image (cache.test.ts), goes with it.
          `${first.host}/${repo}:buildcache-pr-7`,
          `docker.io/${hubRepo}:pr-7`,
          `docker.io/${hubRepo}:sha-${A1.slice(0, 7)}`,
          `ghcr.io/${pkg}:pr-7`,
          `ghcr.io/${pkg}:sha-${A2.slice(0, 7)}`,
        ].sort(),
      );
      const untagged = report.removed.find((x) => x.ref === `${first.host}/${repo}:sha-${A1.slice(0, 7)}`);
      expect(untagged).toEqual(
        expect.objectContaining({ digest: mainDigest, untagged: expect.stringContaining('main') }),
      );
      const why = (ref: string) => report.left.find((l) => l.ref === ref)?.why ?? '';
      for (const t of pr7Tags) expect(why(`${bed.reg2}/${repo}:${t}`)).toContain('405');
      expect(why(`docker.io/${hubRepo}:sha-${A2.slice(0, 7)}`)).toContain('Delete');
      expect(why(`ghcr.io/${pkg}:sha-${A1.slice(0, 7)}`)).toContain('also carries main');
      expect(close.outputs.pushed).toBe('false');
      expect(close.summary).toContain(`${first.host}/${repo}:pr-7`);
      expect(close.summary).toContain('deletes disabled');

      // The comment says the preview went; still one.
      expect(commentsOf(7)).toHaveLength(1);
      expect(commentsOf(7)[0]!.body).toContain('removed');
      expect(commentsOf(8)).toHaveLength(1);
      expectNoLeak(close, [...allSecrets(), GH_TOKEN, HUB.password]);
      // Tokens derived from the secrets are masked as they arrive: the Docker Hub login's JWT,
      // and every bearer token the token registry issued (to the action alone: no docker here).
      expect(close.log).toContain(`::add-mask::${hub.token}`);
      if (kind === 'token') expect(close.issued.length).toBeGreaterThan(0);
      for (const t of close.issued) expect(close.log).toContain(`::add-mask::${t}`);
    },
  );

  it('when the GitHub API refuses (403), the head commit is used and GHCR is left with the reason; the step succeeds', async () => {
    const repo = uniqueRepo('preview');
    const head = sha('f');
    let r = await step(repo, prEvent(9, head, 'opened'), {
      images: `${bed.reg1}/${repo}`,
      'pr-comment': 'false',
    });
    expect(r.code).toBe(0);
    const pkg = `acme/${repo.split('/')[1]}`;
    github.orgs.add('acme');
    github.packages.set(pkg, [{ id: 5, name: r.outputs.digest, tags: ['pr-9'] }]);
    github.fail({ method: 'GET', path: /\/pulls\/9\/commits$/, status: 403 });
    github.fail({
      method: 'DELETE',
      path: new RegExp(`/orgs/acme/packages/container/${repo.split('/')[1]}/versions/5$`),
      status: 403,
    });
    r = await step(repo, prEvent(9, head, 'closed'), {
      images: `${bed.reg1}/${repo}\nghcr.io/${pkg}`,
      context: '/nonexistent',
    });
    github.orgs.delete('acme');
    expect(r.code).toBe(0);
    expect(r.log).toMatch(/::warning::Looking only for the sha- tag of the head commit fffffff: .*403/);
    expect(await reg1.tags(repo)).toEqual([]);
    const report = JSON.parse(r.outputs.cleanup!) as { left: { ref: string; why: string }[] };
    expect(report.left).toEqual([{ ref: `ghcr.io/${pkg}:pr-9`, why: expect.stringContaining('403') }]);
    expect(github.packages.get(pkg)).toHaveLength(1);
  });

  it('a fork pull request gets no comment, even when it pushes: its token cannot write', async () => {
    const repo = uniqueRepo('preview');
    const before = github.seen.length;
    const r = await step(repo, prEvent(14, A1, 'opened', { fork: true }), {
      images: `${bed.reg1}/${repo}`,
      push: 'true',
    });
    expect(r.code).toBe(0);
    expect(r.outputs.pushed).toBe('true');
    expect(r.log).toContain('comes from a fork, whose token cannot comment');
    expect(github.seen.slice(before)).toEqual([]);
  });

  it('cleanup: false on a closed pull request removes nothing; dry-run lists what would go', async () => {
    const repo = uniqueRepo('preview');
    let r = await step(repo, prEvent(11, A1, 'opened'), {
      images: `${bed.reg1}/${repo}`,
      'pr-comment': 'false',
    });
    expect(r.code).toBe(0);
    github.commits.set(11, [A1]);
    r = await step(repo, prEvent(11, A1, 'closed'), {
      images: `${bed.reg1}/${repo}`,
      cleanup: 'false',
      context: '/x',
    });
    expect(r.code).toBe(0);
    r = await step(repo, prEvent(11, A1, 'closed'), {
      images: `${bed.reg1}/${repo}`,
      'dry-run': 'true',
      context: '/x',
    });
    expect(r.code).toBe(0);
    expect(r.log).toContain(`would remove ${bed.reg1}/${repo}:pr-11`);
    expect(r.log).toContain(`would remove ${bed.reg1}/${repo}:sha-${A1.slice(0, 7)}`);
    expect(await reg1.tags(repo)).toEqual(['pr-11', `sha-${A1.slice(0, 7)}`]);
    // Merged by pushing the branch to main: its head commit is main's now, and so is its sha- tag.
    r = await step(repo, prEvent(11, A1, 'closed', { mergedAs: A1 }), {
      images: `${bed.reg1}/${repo}`,
      'dry-run': 'true',
      context: '/x',
    });
    expect(r.code).toBe(0);
    expect(r.log).toContain(`would remove ${bed.reg1}/${repo}:pr-11`);
    expect(r.log).not.toContain(`:sha-${A1.slice(0, 7)}`);
  });
});
