import { describe, expect, it } from '@jest/globals';
import { baseImages, expand, parseStages, replaceScratch } from '../../../src/docker/dockerfile.js';
import { scratchConfig, scratchTag } from '../../../src/docker/scratch.js';

const base = (p: string) => `sha256:${p.replace(/\//g, '')}`;

describe('FROM scratch starts from an empty image of the target platform', () => {
  it.each([
    [
      'metadata steps before and between file steps',
      'FROM scratch\nARG V=1\nLABEL v=$V\nCOPY a /a\nENV X=1\nWORKDIR /w\nCOPY b /b\n',
      'FROM sha256:linuxarm64\nARG V=1\nLABEL v=$V\nCOPY a /a\nENV X=1\nWORKDIR /w\nCOPY b /b\n',
    ],
    [
      'a named stage keeps its name',
      'from scratch AS out\nCOPY a /a',
      'from sha256:linuxarm64 AS out\nCOPY a /a',
    ],
    [
      'a literal --platform flag wins',
      'FROM --platform=linux/amd64 scratch\nCOPY a /a',
      'FROM --platform=linux/amd64 sha256:linuxamd64\nCOPY a /a',
    ],
    [
      'a scratch named by a global ARG',
      'ARG BASE=scratch\nFROM $BASE\nCOPY a /a',
      'ARG BASE=scratch\nFROM sha256:linuxarm64\nCOPY a /a',
    ],
    [
      'multi-stage: only the scratch stage changes',
      'FROM local/busybox AS build\nRUN true\nFROM scratch\nCOPY --from=build /bin /bin',
      'FROM local/busybox AS build\nRUN true\nFROM sha256:linuxarm64\nCOPY --from=build /bin /bin',
    ],
  ])('%s', (_name, text, want) => {
    expect(replaceScratch(text, 'linux/arm64', base)).toBe(want);
  });

  it.each([
    ['no scratch stage', 'FROM alpine:3\nCOPY a /a'],
    ['a stage built FROM an earlier stage named scratch-like', 'FROM alpine AS base\nFROM base\nCOPY a /a'],
    ['a --platform that needs a build argument', 'FROM --platform=$BUILDPLATFORM scratch\nCOPY a /a'],
    ['FROM continued over two lines', 'FROM \\\n  scratch\nCOPY a /a'],
    ['SCRATCH in capitals is an image name, not scratch', 'FROM SCRATCH\nCOPY a /a'],
  ])('leaves the Dockerfile alone: %s', (_name, text) => {
    expect(replaceScratch(text, 'linux/arm64', base)).toBeUndefined();
  });
});

describe('base images of a Dockerfile', () => {
  it.each([
    ['plain', 'FROM alpine:3.20\nRUN true', [], ['alpine:3.20']],
    ['global ARG default', 'ARG TAG=3\nFROM alpine:${TAG}', [], ['alpine:3']],
    ['build argument over the default', 'ARG TAG=3\nFROM alpine:$TAG', ['TAG=edge'], ['alpine:edge']],
    ['${X:-default} when X is unset', 'ARG X\nFROM alpine:${X:-latest}', [], ['alpine:latest']],
    [
      'stages and scratch are not images',
      'FROM golang AS b\nFROM b AS c\nFROM scratch\nCOPY --from=c / /',
      [],
      ['golang'],
    ],
    ['an ARG declared after FROM is not global', 'FROM alpine\nARG TAG=1\nFROM debian:$TAG', [], ['alpine']],
    ['each image once', 'FROM alpine AS a\nFROM alpine AS b', [], ['alpine']],
    [
      'comments and continuations',
      '# syntax=docker/dockerfile:1\n# hi\nFROM \\\n  alpine \\\n  AS x',
      [],
      ['alpine'],
    ],
    ['escape directive', '# escape=`\nFROM `\n  debian', [], ['debian']],
  ])('%s', (_name, text, args, want) => {
    expect(baseImages(text, args)).toEqual(want);
  });

  it('reports the stage, its line and flags', () => {
    expect(parseStages('FROM --platform=linux/arm64 alpine AS Build\n')).toEqual([
      {
        line: 0,
        oneLine: true,
        raw: 'alpine',
        image: 'alpine',
        platformFlag: 'linux/arm64',
        name: 'build',
        fromStage: false,
      },
    ]);
  });

  it.each([
    ['$A', { A: 'x' }, 'x'],
    ['${A}-${B:-b}', { A: 'x' }, 'x-b'],
    ['${A:+set}', { A: 'x' }, 'set'],
    ['${A:+set}', {}, ''],
    ['$MISSING', {}, undefined],
  ])('expand(%s)', (word, vars, want) => {
    expect(expand(word, new Map(Object.entries(vars)))).toBe(want);
  });
});

describe('the empty base image', () => {
  it.each([
    [
      'linux/arm64',
      '{"architecture":"arm64","os":"linux","config":{},"rootfs":{"type":"layers","diff_ids":[]}}',
    ],
    [
      'linux/arm/v7',
      '{"architecture":"arm","os":"linux","variant":"v7","config":{},"rootfs":{"type":"layers","diff_ids":[]}}',
    ],
  ])('%s has fixed bytes naming the platform', (platform, want) => {
    expect(scratchConfig(platform).toString()).toBe(want);
    expect(scratchTag(platform)).toBe(`publish-image/scratch:${platform.replace(/\//g, '-')}`);
  });
});
