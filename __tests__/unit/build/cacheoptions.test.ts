import { describe, expect, it } from '@jest/globals';
import type { BuildCache } from '../../../src/build/cache/cache.js';
import type { Builder } from '../../../src/build/builder.js';
import { cacheOptions } from '../../../src/build/step.js';

const cache = {
  cacheFrom: ['r/app:buildcache-pr-1', 'r/app:buildcache-branch-main--deps', 'r/old:main'],
  entries: { '': 'r/app:buildcache-pr-1', deps: 'r/app:buildcache-branch-main--deps' },
  userFrom: ['r/old:main'],
  cacheTo: [],
  inlineCache: true,
} as unknown as BuildCache;
const kind = (k: Builder['kind']) => ({ kind: k }) as Builder;

describe('cacheOptions: what each build reads from the cache', () => {
  it.each([
    ['the classic builder reads every source in its one build', kind('classic'), '', cache.cacheFrom],
    [
      "BuildKit's image build reads the image's entry and the cache-from input",
      kind('buildkit'),
      '',
      ['r/app:buildcache-pr-1', 'r/old:main'],
    ],
    [
      "BuildKit's stage build reads that stage's entry and the cache-from input",
      kind('buildx'),
      'deps',
      ['r/app:buildcache-branch-main--deps', 'r/old:main'],
    ],
    ['a stage with no entry yet reads the cache-from input alone', kind('buildkit'), 'web', ['r/old:main']],
  ])('%s', (_name, builder, key, want) => {
    expect(cacheOptions(cache, builder, key).cacheFrom).toEqual(want);
  });
});
