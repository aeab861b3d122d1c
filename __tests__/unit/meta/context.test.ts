import { describe, expect, it } from '@jest/globals';
import { metaOptionsFromEnv, workflowContext } from '../../../src/meta/index.js';
import { ctxFor, expectInputError, NOW, run, SHA, SHORT } from './helpers.js';

const HEAD = 'a1b2c3d4e5f60718293a4b5c6d7e8f9012345678';
const prPayload = { number: 7, pull_request: { head: { sha: HEAD }, base: { ref: 'master' } } };

describe('workflowContext', () => {
  it('takes the run as given, with github.com as the default server', () => {
    const ctx = workflowContext(
      { eventName: 'push', ref: 'refs/heads/dev', sha: SHA, repository: 'o/r', payload: {} },
      {},
      () => NOW,
    );
    expect(ctx).toEqual({
      eventName: 'push',
      ref: 'refs/heads/dev',
      sha: SHA,
      repository: 'o/r',
      serverUrl: 'https://github.com',
      payload: {},
      commitDate: NOW,
      now: NOW,
    });
  });

  it('pull_request_target: ref rewritten to refs/pull/<number>/merge, SHA kept', () => {
    const ctx = ctxFor('pull_request_target', 'refs/heads/master', { payload: prPayload });
    expect(ctx.ref).toBe('refs/pull/7/merge');
    expect(ctx.sha).toBe(SHA);
  });

  it.each([
    ['pull_request with the flag', 'pull_request', 'true', HEAD],
    ['flag is case-insensitive', 'pull_request', 'TRUE', HEAD],
    ['pull_request_target with the flag', 'pull_request_target', 'true', HEAD],
    ['pull_request without the flag', 'pull_request', '', SHA],
    ['flag false', 'pull_request', 'false', SHA],
    ['flag on a push keeps the SHA', 'push', 'true', SHA],
  ])('DOCKER_METADATA_PR_HEAD_SHA: %s', (_name, event, flag, expected) => {
    const ctx = ctxFor(event, 'refs/pull/7/merge', {
      payload: prPayload,
      env: { DOCKER_METADATA_PR_HEAD_SHA: flag },
    });
    expect(ctx.sha).toBe(expected);
  });

  it('PR head SHA is used everywhere: sha tag, {{sha}}, revision label, commit date', () => {
    const ctx = ctxFor('pull_request', 'refs/pull/7/merge', {
      payload: {
        ...prPayload,
        commits: [{ id: HEAD, timestamp: '2019-05-05T10:00:00Z' }],
      },
      env: { DOCKER_METADATA_PR_HEAD_SHA: 'true' },
    });
    const meta = run(
      { tags: 'type=ref,event=pr\ntype=sha', labels: "s={{sha}}\nd={{commit_date 'YYYY-MM-DD'}}" },
      ctx,
    );
    expect(meta.tagNames).toEqual(['pr-7', 'sha-a1b2c3d']);
    expect(meta.labels.s).toBe('a1b2c3d');
    expect(meta.labels.d).toBe('2019-05-05');
    expect(meta.labels['org.opencontainers.image.revision']).toBe(HEAD);
  });

  it('without a head SHA in the payload the SHA stays', () => {
    const ctx = ctxFor('pull_request', 'refs/pull/7/merge', { env: { DOCKER_METADATA_PR_HEAD_SHA: 'true' } });
    expect(ctx.sha).toBe(SHA);
  });

  it.each([
    [
      'commit in payload.commits',
      {
        commits: [
          { id: 'other', timestamp: '2000-01-01T00:00:00Z' },
          { id: SHA, timestamp: '2019-12-26T22:45:15+01:00' },
        ],
      },
      '2019-12-26T21:45:15.000Z',
    ],
    [
      'head_commit when it matches',
      { head_commit: { id: SHA, timestamp: '2018-01-01T00:00:00Z' } },
      '2018-01-01T00:00:00.000Z',
    ],
    [
      'commits first, then head_commit',
      {
        commits: [{ id: 'x', timestamp: '2000-01-01T00:00:00Z' }],
        head_commit: { id: SHA, timestamp: '2018-01-01T00:00:00Z' },
      },
      '2018-01-01T00:00:00.000Z',
    ],
    [
      'head_commit of another SHA is ignored',
      { head_commit: { id: 'other', timestamp: '2018-01-01T00:00:00Z' } },
      NOW.toISOString(),
    ],
    ['no commit: now', {}, NOW.toISOString()],
  ])('commit date: %s', (_name, payload, expected) => {
    expect(ctxFor('push', 'refs/heads/dev', { payload }).commitDate.toISOString()).toBe(expected);
  });

  it('SOURCE_DATE_EPOCH sets the clock for created and {{date}}, and the commit-date fallback', () => {
    const ctx = ctxFor('push', 'refs/heads/dev', { env: { SOURCE_DATE_EPOCH: '1700000000' } });
    expect(ctx.now.toISOString()).toBe('2023-11-14T22:13:20.000Z');
    expect(ctx.commitDate.toISOString()).toBe('2023-11-14T22:13:20.000Z');
    const meta = run({ tags: 'type=raw,value=x', labels: "d={{date 'YYYYMMDD'}}" }, ctx);
    expect(meta.labels['org.opencontainers.image.created']).toBe('2023-11-14T22:13:20.000Z');
    expect(meta.labels.d).toBe('20231114');
  });

  it('a non-numeric SOURCE_DATE_EPOCH is an input error', () => {
    expectInputError(
      () => ctxFor('push', 'refs/heads/dev', { env: { SOURCE_DATE_EPOCH: 'yesterday' } }),
      'SOURCE_DATE_EPOCH',
      'yesterday',
    );
  });
});

describe('metaOptionsFromEnv', () => {
  it('defaults', () => {
    expect(metaOptionsFromEnv({})).toEqual({ shortShaLength: 7, annotationLevels: ['manifest'] });
  });

  it.each([
    [{ DOCKER_METADATA_SHORT_SHA_LENGTH: '12' }, { shortShaLength: 12, annotationLevels: ['manifest'] }],
    [
      { DOCKER_METADATA_ANNOTATIONS_LEVELS: 'manifest,index' },
      { shortShaLength: 7, annotationLevels: ['manifest', 'index'] },
    ],
    [{ DOCKER_METADATA_ANNOTATIONS_LEVELS: '' }, { shortShaLength: 7, annotationLevels: ['manifest'] }],
  ])('%j', (env, expected) => {
    expect(metaOptionsFromEnv(env)).toEqual(expected);
  });

  it('a non-numeric DOCKER_METADATA_SHORT_SHA_LENGTH is an input error', () => {
    expectInputError(
      () => metaOptionsFromEnv({ DOCKER_METADATA_SHORT_SHA_LENGTH: 'abc' }),
      'DOCKER_METADATA_SHORT_SHA_LENGTH',
      'abc',
    );
  });

  it('short length applies to type=sha', () => {
    expect(run({ tags: 'type=sha' }, ctxFor('push', 'refs/heads/dev')).tagNames).toEqual([SHORT]);
  });
});
