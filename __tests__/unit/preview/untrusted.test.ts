import { describe, expect, it } from '@jest/globals';
import { execFileSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import path from 'node:path';
import { checkUntrustedBuild, forkHeadOf } from '../../../src/preview/untrusted.js';
import { tempDir } from '../../helpers/tmp.js';

const HEAD = '1'.repeat(40);
const target = (headRepo: string, sha = HEAD) => ({
  repository: { full_name: 'acme/api' },
  pull_request: { number: 7, head: { sha, repo: { full_name: headRepo } } },
});
const workflowRun = (headRepo: string) => ({
  repository: { full_name: 'acme/api' },
  workflow_run: { head_sha: HEAD, head_repository: { full_name: headRepo }, pull_requests: [{ number: 7 }] },
});

describe('which privileged runs are about fork code', () => {
  it.each([
    ['pull_request_target from a fork', 'pull_request_target', target('someone/api'), 'someone/api'],
    ['workflow_run of a fork', 'workflow_run', workflowRun('someone/api'), 'someone/api'],
    ['pull_request_target of a deleted fork', 'pull_request_target', target(''), '(deleted fork)'],
  ])('%s', (_n, event, payload, repo) => {
    expect(forkHeadOf(event, payload)).toEqual(expect.objectContaining({ sha: HEAD, repo }));
  });

  it.each([
    ['pull_request_target from the same repository', 'pull_request_target', target('acme/api')],
    ['workflow_run of the same repository', 'workflow_run', workflowRun('acme/api')],
    ['pull_request from a fork (no secrets there)', 'pull_request', target('someone/api')],
    ['a push', 'push', {}],
  ])('%s: none', (_n, event, payload) => {
    expect(forkHeadOf(event, payload)).toBeUndefined();
  });
});

/** A git checkout with one commit; its HEAD. */
function checkout(): { dir: string; head: string } {
  const dir = tempDir('untrusted');
  writeFileSync(path.join(dir, 'Dockerfile'), 'FROM scratch\n');
  const git = (...a: string[]) =>
    execFileSync('git', ['-C', dir, '-c', 'user.name=t', '-c', 'user.email=t@e', ...a], {
      encoding: 'utf8',
    }).trim();
  git('init', '-q');
  git('add', '.');
  git('commit', '-q', '-m', 'x');
  return { dir, head: git('rev-parse', 'HEAD') };
}

describe('the build context against the fork head', () => {
  it('refuses when the context holds the fork head, naming the risk and the opt-in', async () => {
    const { dir, head } = checkout();
    await expect(
      checkUntrustedBuild('pull_request_target', target('someone/api', head), dir, false),
    ).rejects.toThrow(
      /^Refusing to build fork code with this repository's credentials: .*someone\/api.*secrets.*allow-untrusted-build: true/,
    );
  });

  it('builds with the opt-in, saying so', async () => {
    const { dir, head } = checkout();
    expect(await checkUntrustedBuild('pull_request_target', target('someone/api', head), dir, true)).toMatch(
      /^allow-untrusted-build: building someone\/api's code/,
    );
  });

  it("builds the base repository's own checkout", async () => {
    const { dir } = checkout();
    expect(
      await checkUntrustedBuild('pull_request_target', target('someone/api'), dir, false),
    ).toBeUndefined();
  });

  it('warns when the context is not a git checkout', async () => {
    expect(
      await checkUntrustedBuild('pull_request_target', target('someone/api'), tempDir('plain'), false),
    ).toMatch(/not a git checkout/);
  });
});
