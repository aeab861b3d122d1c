import { describe, expect, it } from '@jest/globals';
import { noSecretsReason } from '../../src/event.js';

const pr = (head: string | undefined, base = 'acme/api') => ({
  number: 5,
  repository: { full_name: base },
  pull_request: {
    number: 5,
    head: { repo: head ? { full_name: head } : null },
    base: { repo: { full_name: base } },
  },
});

describe('which runs get no secrets (push: auto builds only)', () => {
  it.each([
    ['a pull request from a fork', 'pull_request', pr('someone/api'), '', /fork someone\/api/],
    ['a pull request whose fork was deleted', 'pull_request', pr(undefined), '', /deleted repository/],
    ['a Dependabot pull request', 'pull_request', pr('acme/api'), 'dependabot[bot]', /Dependabot/],
    ['a pull_request_review from a fork', 'pull_request_review', pr('someone/api'), '', /fork/],
  ])('%s', (_n, event, payload, actor, reason) => {
    expect(noSecretsReason(event, payload, actor)).toMatch(reason);
  });

  it.each([
    ['a pull request from the same repository', 'pull_request', pr('acme/api'), 'octocat'],
    [
      'pull_request_target, which runs with the base repository secrets',
      'pull_request_target',
      pr('someone/api'),
      '',
    ],
    ['a push', 'push', { repository: { full_name: 'acme/api' } }, 'dependabot[bot]'],
  ])('%s gets secrets', (_n, event, payload, actor) => {
    expect(noSecretsReason(event, payload, actor)).toBeUndefined();
  });
});
