import { describe, expect, it } from '@jest/globals';
import { latestMovesForward, releaseVersions, withoutLatest } from '../../../src/meta/index.js';
import { ctxFor, run } from './helpers.js';

describe('latest only moves forward (meta helpers)', () => {
  it('releaseVersions keeps final semver releases, highest first', () => {
    expect(releaseVersions(['1.2', '1.2.3', 'v2.0.0', 'latest', '3.0.0-rc.1', 'sha-abc', '1.10.0'])).toEqual([
      '2.0.0',
      '1.10.0',
      '1.2.3',
    ]);
  });

  it.each([
    ['empty registry', '1.0.0', [], true],
    ['a higher release exists', '1.9.1', ['2.0.0', 'latest'], false],
    ['only lower releases', '2.1.0', ['2.0.0', 'v1.0.0'], true],
    ['same release re-pushed', '2.0.0', ['2.0.0'], true],
    ['higher pre-release ignored', '2.0.0', ['3.0.0-rc.1'], true],
  ])('%s', (_name, version, existing, expected) => {
    const meta = run({ tags: 'type=semver,pattern={{version}}' }, ctxFor('push', `refs/tags/v${version}`));
    expect(latestMovesForward(meta.semver, existing as string[])).toBe(expected);
  });

  it('no release version: not judged', () => {
    expect(latestMovesForward(undefined, ['9.9.9'])).toBe(true);
  });

  it('withoutLatest drops only the appended latest tag and rebuilds the outputs', () => {
    const meta = run(
      { images: 'a/b\nc/d', tags: 'type=semver,pattern={{version}}\ntype=raw,value=latest' },
      ctxFor('push', 'refs/tags/v1.2.3'),
    );
    expect(meta.tagNames).toEqual(['1.2.3', 'latest', 'latest']);
    const held = withoutLatest(meta);
    expect(held.latest).toBe(false);
    expect(held.tagNames).toEqual(['1.2.3', 'latest']);
    expect(held.tags).toEqual(['a/b:1.2.3', 'a/b:latest', 'c/d:1.2.3', 'c/d:latest']);
    expect(held.outputs.tags).toBe(held.tags.join('\n'));
    expect(held.json.tags).toEqual(held.tags);
    expect(held.labels).toEqual(meta.labels);
    expect(withoutLatest(held)).toBe(held);
  });
});
