import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { octokitFor } from '../../../src/github/octokit.js';
import { pullRequestCommits } from '../../../src/github/pulls.js';
import { type GitHubFake, startGitHubFake } from '../../helpers/githubfake.js';

const TOKEN = 'ghs_unit';
let github: GitHubFake;
beforeAll(async () => {
  github = await startGitHubFake({ token: TOKEN, maxPerPage: 2 });
});
afterAll(async () => github.close());

const shas = ['1', '2', '3', '4', '5'].map((c) => c.repeat(40));

describe("a pull request's commits", () => {
  it('follows every page of the Link header', async () => {
    github.commits.set(7, shas);
    const octokit = await octokitFor(TOKEN, { GITHUB_API_URL: github.url });
    expect(await pullRequestCommits(octokit, 'acme/api', 7, shas[4]!)).toEqual({ shas });
    expect(github.seen.filter((s) => s.path.startsWith('/repos/acme/api/pulls/7/commits'))).toHaveLength(3);
  });

  it.each([
    ['the API refuses (403)', async () => octokitFor(TOKEN, { GITHUB_API_URL: github.url }), 8, /403/],
    ['the token is wrong (401)', async () => octokitFor('nope', { GITHUB_API_URL: github.url }), 7, /401/],
    [
      'the API is not reachable',
      async () => octokitFor(TOKEN, { GITHUB_API_URL: 'http://127.0.0.1:9' }),
      7,
      /./,
    ],
    ['there is no token', async () => undefined, 7, /no github-token/],
  ])('falls back to the head commit when %s', async (_n, make, n, why) => {
    github.fail({ method: 'GET', path: /\/pulls\/8\/commits$/, status: 403 });
    const got = await pullRequestCommits(await make(), 'acme/api', n, 'f'.repeat(40));
    expect(got.shas).toEqual(['f'.repeat(40)]);
    expect(got.fallback).toMatch(why);
  });
});
