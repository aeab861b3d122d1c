import { describe, expect, it } from '@jest/globals';
import { renderCleanup } from '../../../src/preview/cleanup.js';
import { markerOf, publishedBody, removedBody } from '../../../src/preview/comment.js';
import { isClosed, pullRequestOf } from '../../../src/preview/pr.js';

const payload = (action: string, head: string) => ({
  action,
  number: 7,
  repository: { full_name: 'acme/api' },
  pull_request: {
    number: 7,
    head: { sha: 'f'.repeat(40), repo: { full_name: head } },
    base: { repo: { full_name: 'acme/api' } },
  },
});

describe('the pull request of an event', () => {
  it.each([
    [
      'pull_request opened',
      'pull_request',
      payload('opened', 'acme/api'),
      { number: 7, fromFork: false },
      false,
    ],
    [
      'pull_request closed',
      'pull_request',
      payload('closed', 'acme/api'),
      { number: 7, fromFork: false },
      true,
    ],
    [
      'pull_request_target from a fork',
      'pull_request_target',
      payload('closed', 'x/api'),
      { fromFork: true },
      true,
    ],
  ])('%s', (_n, event, p, fields, closed) => {
    const pr = pullRequestOf(event, p);
    expect(pr).toEqual(expect.objectContaining(fields));
    expect(isClosed(pr)).toBe(closed);
  });

  it('knows the commit a merge put on the base branch, only when merged', () => {
    const merged = { ...payload('closed', 'acme/api') };
    merged.pull_request = { ...merged.pull_request, merged: true, merge_commit_sha: 'm'.repeat(40) } as never;
    expect(pullRequestOf('pull_request', merged)!.mergedAs).toBe('m'.repeat(40));
    const open = payload('closed', 'acme/api');
    (open.pull_request as Record<string, unknown>).merge_commit_sha = 'm'.repeat(40);
    expect(pullRequestOf('pull_request', open)!.mergedAs).toBe('');
  });

  it('is none on other events', () => {
    expect(pullRequestOf('push', payload('closed', 'acme/api'))).toBeUndefined();
  });
});

describe('the preview comment', () => {
  const pr = pullRequestOf('pull_request', payload('synchronize', 'acme/api'))!;
  it('names every reference and digest, with a docker pull line of the pr-N tag', () => {
    const body = publishedBody(pr, {
      marker: markerOf({}),
      digest: 'sha256:' + '2'.repeat(64),
      digests: {
        'r.io/a:sha-fffffff': 'sha256:' + '2'.repeat(64),
        'r.io/a:pr-7': 'sha256:' + '2'.repeat(64),
      },
      sha: 'f'.repeat(40),
    });
    expect(body.split('\n')[0]).toBe(markerOf({}));
    expect(body).toContain('docker pull r.io/a:pr-7');
    expect(body).toContain('| `r.io/a:sha-fffffff` | `sha256:2222');
  });

  it('one marker per step: the same on every run of a step, another for another step', () => {
    const step = { GITHUB_WORKFLOW: 'preview', GITHUB_JOB: 'image', GITHUB_ACTION: 'publish' };
    expect(markerOf(step)).toBe(markerOf({ ...step }));
    expect(markerOf(step)).not.toBe(markerOf({ ...step, GITHUB_ACTION: 'publish-docs' }));
    expect(markerOf(step)).toMatch(/^<!-- publish-image preview [0-9a-f]{12} -->$/);
  });

  it('says the preview was removed, and what stayed and why', () => {
    const body = removedBody(
      pr,
      markerOf({}),
      ['r.io/a:pr-7'],
      [{ ref: 'r2.io/a:pr-7', why: 'deletes disabled (405)' }],
    );
    expect(body).toContain('removed (1 tag(s))');
    expect(body).toContain('- `r2.io/a:pr-7`: deletes disabled (405)');
  });
});

describe('the job summary of a cleanup', () => {
  it('lists removed and left, escaping table pipes', () => {
    const md = renderCleanup({
      pullRequest: 7,
      tags: ['pr-7'],
      dryRun: false,
      removed: [{ ref: 'r.io/a:pr-7', digest: 'sha256:1' }],
      left: [{ ref: 'r2.io/a:pr-7', why: 'a | b' }],
    });
    expect(md).toContain('| `r.io/a:pr-7` | `sha256:1` |');
    expect(md).toContain('| `r2.io/a:pr-7` | a \\| b |');
  });

  it('says when nothing was found', () => {
    expect(renderCleanup({ pullRequest: 7, tags: ['pr-7'], dryRun: false, removed: [], left: [] })).toContain(
      'No preview tag was found',
    );
  });
});
