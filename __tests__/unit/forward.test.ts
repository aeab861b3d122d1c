import { describe, expect, it } from '@jest/globals';
import { floatingTags, heldBackTags } from '../../src/forward.js';

describe('latest only moves forward', () => {
  const tags = (v: string) => {
    const [major, minor] = v.split('.');
    return [v, `${major}.${minor}`, major, 'latest'];
  };
  it.each([
    ['an empty repository moves everything', '1.0.0', [], []],
    [
      'a newer release keeps latest, 1 and 1.9 move',
      '1.9.1',
      ['2.0.0', '1.9.0'],
      [{ tag: 'latest', newer: '2.0.0' }],
    ],
    [
      'a newer patch of the same line keeps 1.9, 1 and latest',
      '1.9.1',
      ['1.9.2'],
      [
        { tag: '1.9', newer: '1.9.2' },
        { tag: '1', newer: '1.9.2' },
        { tag: 'latest', newer: '1.9.2' },
      ],
    ],
    [
      'a newer minor keeps 1 and latest but not 1.9',
      '1.9.1',
      ['1.10.0'],
      [
        { tag: '1', newer: '1.10.0' },
        { tag: 'latest', newer: '1.10.0' },
      ],
    ],
    [
      'v-prefixed existing releases count',
      '2.0.0',
      ['v2.1.0'],
      [
        { tag: '2', newer: 'v2.1.0' },
        { tag: 'latest', newer: 'v2.1.0' },
      ],
    ],
    [
      'pre-releases and non-versions in the registry are ignored',
      '2.1.0',
      ['3.0.0-rc.1', 'main', 'sha-abc', '2.0.0'],
      [],
    ],
    ['an older or equal release does not hold anything', '2.1.0', ['2.1.0', '2.0.9', '1.99.0'], []],
  ])('%s', (_name, version, existing, expected) => {
    expect(heldBackTags(version as string, tags(version as string), 'latest', existing as string[])).toEqual(
      expected,
    );
  });

  it('a pre-release never holds anything back (it does not get latest anyway)', () => {
    expect(heldBackTags('3.0.0-rc.1', ['3.0.0-rc.1'], undefined, ['4.0.0'])).toEqual([]);
  });

  it('a flavored latest tag name is the one held back', () => {
    expect(heldBackTags('1.0.0', ['1.0.0', 'latest-alpine'], 'latest-alpine', ['2.0.0'])).toEqual([
      { tag: 'latest-alpine', newer: '2.0.0' },
    ]);
  });
});

describe('the tags a dry run cannot settle without asking a registry', () => {
  it.each([
    [
      'a release: latest, major and major.minor',
      '1.9.1',
      ['1.9.1', '1.9', '1', 'latest'],
      'latest',
      ['1.9', '1', 'latest'],
    ],
    ['a prefixed latest from the flavor', '2.0.0', ['2.0.0', 'edge-latest'], 'edge-latest', ['edge-latest']],
    ['a pre-release moves nothing backwards', '2.0.0-rc.1', ['2.0.0-rc.1', 'latest'], 'latest', []],
    ['a branch build has no version to compare', 'main', ['main', 'latest'], 'latest', []],
    ['no floating tag among the rules', '1.2.3', ['1.2.3', 'sha-a1b2c3d'], undefined, []],
  ])('%s', (_what, version, tags, latestTag, want) => {
    expect(floatingTags(version, tags, latestTag)).toEqual(want);
  });
});
