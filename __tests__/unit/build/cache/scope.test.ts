import { describe, expect, it } from '@jest/globals';
import { branchScope, cacheScopes, type CacheRun } from '../../../../src/build/cache/scope.js';

const run = (o: Partial<CacheRun>): CacheRun => ({
  eventName: 'push',
  ref: 'refs/heads/main',
  defaultBranch: 'main',
  noSecrets: false,
  ...o,
});

describe('whose cache a run reads and writes', () => {
  it.each([
    ['a push to the default branch', run({}), ['branch-main'], 'branch-main'],
    [
      'a push to a feature branch',
      run({ ref: 'refs/heads/feature/Login' }),
      ['branch-feature-login', 'branch-main'],
      'branch-feature-login',
    ],
    ['a release tag', run({ ref: 'refs/tags/v1.2.3' }), ['branch-main', 'release'], 'release'],
    [
      'a pull request',
      run({ eventName: 'pull_request', ref: 'refs/pull/7/merge', pullRequest: 7 }),
      ['pr-7', 'branch-main'],
      'pr-7',
    ],
    [
      'pull_request_target (the base branch ref)',
      run({ eventName: 'pull_request_target', ref: 'refs/heads/main', pullRequest: 9 }),
      ['pr-9', 'branch-main'],
      'pr-9',
    ],
    ['a schedule on the default branch', run({ eventName: 'schedule' }), ['branch-main'], 'branch-main'],
  ])('%s', (_name, r, read, write) => {
    const s = cacheScopes(r);
    expect(s.read).toEqual(read);
    expect(s.write).toBe(write);
  });

  it.each([
    [
      "a fork's pull request",
      run({ eventName: 'pull_request', ref: 'refs/pull/7/merge', pullRequest: 7, noSecrets: true }),
      ['branch-main'],
      /fork/,
    ],
    ['workflow_run', run({ eventName: 'workflow_run' }), ['branch-main'], /workflow_run/],
  ])('%s reads the default branch only and writes nothing', (_name, r, read, why) => {
    const s = cacheScopes(r);
    expect(s.read).toEqual(read);
    expect(s.write).toBeUndefined();
    expect(s.noWrite).toMatch(why);
  });

  it('never lets a pull request or a release write the scope the default branch reads', () => {
    const main = cacheScopes(run({})).read;
    for (const r of [
      run({ eventName: 'pull_request', ref: 'refs/pull/3/merge', pullRequest: 3 }),
      run({ eventName: 'pull_request_target', ref: 'refs/heads/main', pullRequest: 3 }),
      run({ eventName: 'workflow_run' }),
      run({ eventName: 'pull_request', ref: 'refs/pull/3/merge', pullRequest: 3, noSecrets: true }),
    ])
      expect(main).not.toContain(cacheScopes(r).write);
  });

  it.each([
    ['main', 'branch-main'],
    ['feature/Login', 'branch-feature-login'],
    ['pr-7', 'branch-pr-7'],
    ['release', 'branch-release'],
    ['a//b--c', 'branch-a-b-c'],
  ])('branch %s is scope %s (never a pull request or release scope)', (branch, scope) => {
    expect(branchScope(branch)).toBe(scope);
  });
});
