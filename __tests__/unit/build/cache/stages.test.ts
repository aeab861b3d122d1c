import { describe, expect, it } from '@jest/globals';
import { cacheTag, isCacheTag, isCacheTagOf, neededStages } from '../../../../src/build/cache/stages.js';

const multi = [
  'FROM node:20 AS deps',
  'COPY package.json .',
  'RUN npm ci',
  'FROM node:20 AS build',
  'COPY --from=deps /node_modules /node_modules',
  'RUN npm run build',
  'FROM alpine AS unused',
  'RUN true',
  'FROM gcr.io/distroless/nodejs20',
  'COPY --from=build /dist /app',
].join('\n');

describe('the stages a build needs', () => {
  it.each([
    ['a single stage', 'FROM alpine\nRUN true\n', '', []],
    ['a chain through COPY --from, not the unused stage', multi, '', ['deps', 'build']],
    ['up to a target', multi, 'build', ['deps']],
    [
      'FROM an earlier stage',
      'FROM alpine AS base\nRUN x\nFROM base AS test\nRUN y\nFROM base\nRUN z\n',
      '',
      ['base'],
    ],
    [
      'RUN --mount=from= and an index',
      'FROM a AS one\nFROM b\nRUN --mount=type=bind,from=one,target=/x y\nFROM c\nCOPY --from=1 /x /x\n',
      '',
      ['one', 'stage-1'],
    ],
    ['COPY --from an image is no stage', 'FROM a AS one\nFROM b\nCOPY --from=alpine:3 /x /x\n', '', []],
  ])('%s', (_name, text, target, want) => {
    expect(neededStages(text, [], target).map((s) => s.key)).toEqual(want);
  });

  it('keeps unnamed stages unnamed (--target needs a name)', () => {
    const s = neededStages('FROM a\nRUN x\nFROM b\nCOPY --from=0 /x /x\n');
    expect(s).toEqual([{ index: 0, name: undefined, key: 'stage-0' }]);
  });
});

describe('cache tags', () => {
  it.each([
    ['branch-main', undefined, 'buildcache-branch-main'],
    ['pr-7', 'deps', 'buildcache-pr-7--deps'],
  ])('%s %s → %s', (scope, stage, want) => {
    expect(cacheTag(scope, stage)).toBe(want);
  });

  it('stays within 128 characters, long names told apart by a hash', () => {
    const a = cacheTag(`branch-${'x'.repeat(200)}`, 'deps');
    const b = cacheTag(`branch-${'x'.repeat(201)}`, 'deps');
    expect(a.length).toBeLessThanOrEqual(128);
    expect(a).not.toBe(b);
  });

  it.each([
    ['buildcache-pr-7', 'pr-7', true],
    ['buildcache-pr-7--deps', 'pr-7', true],
    ['buildcache-pr-71', 'pr-7', false],
    ['buildcache-pr-71--deps', 'pr-7', false],
    ['pr-7', 'pr-7', false],
  ])('%s belongs to %s: %s', (tag, scope, want) => {
    expect(isCacheTagOf(tag, scope)).toBe(want);
  });

  it('no release tag looks like a cache tag', () => {
    for (const t of ['1.2.3', 'latest', 'main', 'pr-7', 'sha-abc1234']) expect(isCacheTag(t)).toBe(false);
  });
});
