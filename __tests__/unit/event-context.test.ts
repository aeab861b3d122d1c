import { describe, expect, it } from '@jest/globals';
import { currentRun, type ActionsContext } from '../../src/event.js';

/** What @actions/github's Context holds for a run, its repo getter included. */
function context(o: Partial<ActionsContext> & { repository?: string }): ActionsContext {
  return {
    eventName: o.eventName ?? 'push',
    ref: o.ref ?? 'refs/heads/main',
    sha: o.sha ?? 'abc',
    actor: o.actor ?? 'octocat',
    serverUrl: o.serverUrl ?? 'https://github.com',
    payload: o.payload ?? {},
    get repo() {
      if (!o.repository)
        throw new Error("context.repo requires a GITHUB_REPOSITORY environment variable like 'owner/repo'");
      const [owner, repo] = o.repository.split('/');
      return { owner: owner!, repo: repo! };
    },
  };
}

describe('currentRun: the run as @actions/github describes it', () => {
  it.each([
    [
      'a push',
      context({ repository: 'acme/api' }),
      { eventName: 'push', ref: 'refs/heads/main', sha: 'abc', actor: 'octocat', repository: 'acme/api' },
    ],
    [
      'a pull request by Dependabot on GitHub Enterprise',
      context({
        eventName: 'pull_request',
        ref: 'refs/pull/7/merge',
        actor: 'dependabot[bot]',
        serverUrl: 'https://ghe.example.com',
        repository: 'acme/api',
        payload: { number: 7 },
      }),
      {
        eventName: 'pull_request',
        actor: 'dependabot[bot]',
        serverUrl: 'https://ghe.example.com',
        payload: { number: 7 },
      },
    ],
    ['no repository anywhere: empty, not a crash', context({}), { repository: '' }],
  ])('%s', (_name, ctx, expected) => {
    expect(currentRun(ctx)).toMatchObject(expected);
  });
});
