import { describe, expect, it } from '@jest/globals';
import type { Builder } from '../../../../src/build/builder.js';
import { cacheFlags } from '../../../../src/build/cache/options.js';

const classic: Builder = { kind: 'classic', description: 'classic docker build (docker 28.2.2, no buildx)' };
const kit: Builder = { kind: 'buildkit', description: 'BuildKit, run by docker 20.10.24 itself' };
const buildx: Builder = { kind: 'buildx', description: 'BuildKit through buildx 0.23.0' };

describe('cache-from and cache-to for each builder', () => {
  it.each([
    [
      'classic pulls image references',
      classic,
      ['ghcr.io/a/b:main'],
      [],
      '',
      { from: ['ghcr.io/a/b:main'], pull: ['ghcr.io/a/b:main'], to: [], inline: false },
    ],
    [
      "docker's BuildKit reads a registry cache by its ref",
      kit,
      ['type=registry,ref=ghcr.io/a/b:cache'],
      ['type=inline'],
      '',
      { from: ['ghcr.io/a/b:cache'], pull: [], to: [], inline: true },
    ],
    [
      'buildx passes every form on',
      buildx,
      ['type=gha', 'type=local,src=/tmp/c'],
      ['type=registry,ref=x/y:c,mode=max'],
      'docker-container',
      {
        from: ['type=gha', 'type=local,src=/tmp/c'],
        pull: [],
        to: ['type=registry,ref=x/y:c,mode=max'],
        inline: false,
      },
    ],
    [
      "buildx's docker driver takes inline",
      buildx,
      [],
      ['type=inline'],
      'docker',
      { from: [], pull: [], to: [], inline: true },
    ],
  ])('%s', (_name, b, from, to, driver, want) => {
    expect(cacheFlags(b, from, to, driver)).toEqual(want);
  });

  it.each([
    [
      'classic, a registry cache',
      classic,
      ['type=registry,ref=x/y:c'],
      [],
      '',
      /^Input "cache-from": type=registry,ref=x\/y:c is a BuildKit cache.*cache-from: x\/y:c/,
    ],
    [
      'classic, gha',
      classic,
      ['type=gha'],
      [],
      '',
      /^Input "cache-from": type=gha needs docker buildx with the docker-container driver/,
    ],
    ["docker's BuildKit, local", kit, ['type=local,src=/c'], [], '', /needs docker buildx/],
    [
      'classic, any export',
      classic,
      [],
      ['type=registry,ref=x/y:c'],
      '',
      /^Input "cache-to": classic docker build .* exports only inline cache/,
    ],
    [
      "buildx's docker driver, a registry export",
      buildx,
      [],
      ['type=registry,ref=x/y:c,mode=max'],
      'docker',
      /^Input "cache-to": buildx's docker driver \(the default builder\) exports only inline cache/,
    ],
    [
      'an export that is no type=',
      buildx,
      [],
      ['x/y:c'],
      'docker-container',
      /^Input "cache-to": x\/y:c is not a cache export/,
    ],
  ])('refuses %s before the build', (_name, b, from, to, driver, want) => {
    expect(() => cacheFlags(b, from, to, driver)).toThrow(want);
  });
});
