/**
 * pull_request_target (and workflow_run) run with this repository's secrets: a build context
 * holding a fork's head commit is refused before anything runs, unless the workflow opts in.
 * Each flow runs with an htpasswd and with a token-registry target: the refusal comes before any
 * registry is asked, the opt-in build pushes as usual.
 */
import { beforeAll, describe, expect, it } from '@jest/globals';
import { execFileSync } from 'node:child_process';
import {
  type Env,
  type Event,
  expectNoLeak,
  fakeDocker,
  makeContext,
  REPO,
  repositoryRecord,
  runAction,
  secretForms,
  twoRegistries,
} from './harness.js';
import { REGISTRY_KINDS, registryOfKind, type RegistryUnderTest } from './registries.js';

let bed: Env;
beforeAll(() => {
  ({ bed } = twoRegistries());
});

/** A pull_request_target event of pull request `n` from the fork someone/api, head `head`. */
function targetEvent(n: number, head: string): Event {
  return {
    name: 'pull_request_target',
    ref: 'refs/heads/main',
    sha: 'd'.repeat(40),
    payload: {
      action: 'synchronize',
      number: n,
      repository: repositoryRecord(),
      pull_request: {
        number: n,
        head: { sha: head, ref: 'feature', repo: { full_name: 'someone/api' } },
        base: { ref: 'main', repo: { full_name: REPO } },
      },
    },
  };
}

function step(
  reg: RegistryUnderTest,
  event: Event,
  inputs: Record<string, string>,
  env: Record<string, string> = {},
) {
  return runAction({
    event,
    secrets: secretForms(reg.user, reg.pass),
    env: { DOCKER_METADATA_PR_HEAD_SHA: 'true', ...env },
    inputs: { registry: reg.host, username: reg.user, password: reg.pass, ...inputs },
  });
}

/** A build context that is a git checkout; returns it and its HEAD commit. */
function gitContext(): { dir: string; head: string } {
  const dir = makeContext();
  const git = (...args: string[]) =>
    execFileSync('git', ['-C', dir, '-c', 'user.name=t', '-c', 'user.email=t@example.com', ...args], {
      encoding: 'utf8',
    }).trim();
  git('init', '-q');
  git('add', '.');
  git('commit', '-q', '-m', 'fork change');
  return { dir, head: git('rev-parse', 'HEAD') };
}

describe.each(REGISTRY_KINDS)('pull_request_target with a fork head (%s registry)', (kind) => {
  let reg: RegistryUnderTest;
  beforeAll(() => {
    reg = registryOfKind(bed, kind);
  });

  it('is refused before anything is built, and built with allow-untrusted-build: true', async () => {
    const repo = reg.repo('target');
    const { dir, head } = gitContext();
    const inputs = { images: `${reg.host}/${repo}`, context: dir };
    const docker = fakeDocker(); // records every docker call, and refuses it
    let r = await step(reg, targetEvent(12, head), inputs, docker.env);
    expect(r.code).toBe(1);
    expect(docker.calls()).toEqual([]);
    expect(r.log).toMatch(
      /^::error::Refusing to build fork code with this repository's credentials: on pull_request_target .* someone\/api/m,
    );
    expect(r.log).toContain('allow-untrusted-build');
    expect(r.log).not.toContain('::group::Build');
    expect(await reg.probe.tags(repo)).toEqual([]);

    const githubToken = `ghs_${head.slice(0, 30)}`;
    r = await step(reg, targetEvent(12, head), {
      ...inputs,
      'allow-untrusted-build': 'true',
      'github-token': githubToken,
    });
    expect(r.code).toBe(0);
    expect(r.log).toMatch(/::warning::allow-untrusted-build: building someone\/api's code/);
    expect(await reg.probe.tags(repo)).toEqual(['pr-12', `sha-${head.slice(0, 7)}`]);
    // git read the checkout with none of the step's inputs (tokens among them) in its environment.
    expect(r.children.some((c) => c.program === 'git')).toBe(true);
    expectNoLeak(r, [...secretForms(reg.user, reg.pass), githubToken]);
  });

  it('is refused on workflow_run of a fork pull request too', async () => {
    const repo = reg.repo('target');
    const { dir, head } = gitContext();
    const event: Event = {
      name: 'workflow_run',
      ref: 'refs/heads/main',
      sha: 'd'.repeat(40),
      payload: {
        action: 'completed',
        repository: repositoryRecord(),
        workflow_run: {
          head_sha: head,
          head_repository: { full_name: 'someone/api' },
          pull_requests: [],
        },
      },
    };
    const r = await step(reg, event, {
      images: `${reg.host}/${repo}`,
      context: dir,
      tags: 'type=raw,value=run',
    });
    expect(r.code).toBe(1);
    expect(r.log).toMatch(/^::error::Refusing to build fork code .* on workflow_run .* someone\/api/m);
    expect(await reg.probe.tags(repo)).toEqual([]);
  });

  it("builds the base repository's own checkout on pull_request_target without the opt-in", async () => {
    const repo = reg.repo('target');
    const { dir } = gitContext(); // HEAD is not the fork's head commit
    const r = await step(reg, targetEvent(13, '9'.repeat(40)), {
      images: `${reg.host}/${repo}`,
      context: dir,
    });
    expect(r.code).toBe(0);
    expect(await reg.probe.tags(repo)).toContain('pr-13');
  });
});
