import { describe, expect, it } from '@jest/globals';
import {
  baseImageOf,
  baseImages,
  expand,
  parseStages,
  replaceScratch,
} from '../../../src/build/dockerfile.js';
import { scratchConfig, scratchTag } from '../../../src/build/scratch.js';

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

describe('baseImageOf: the image the built stage starts from', () => {
  const cases: { name: string; file: string; args?: string[]; target?: string; want: string | undefined }[] =
    [
      { name: 'a single FROM', file: 'FROM node:20\nRUN true\n', want: 'node:20' },
      {
        name: 'the last FROM of several',
        file: 'FROM golang:1.22 AS build\nFROM alpine:3.20\n',
        want: 'alpine:3.20',
      },
      { name: 'lower-case keywords', file: 'from alpine:3.20 as base\nrun true\n', want: 'alpine:3.20' },
      { name: 'FROM scratch has no base', file: 'FROM scratch\nCOPY x /x\n', want: undefined },
      { name: 'no FROM at all', file: '# nothing\n', want: undefined },
      {
        name: 'a stage name is followed to its image',
        file: 'FROM ghcr.io/acme/base:1 AS base\nRUN x\nFROM base AS app\nCOPY . .\nFROM app\n',
        want: 'ghcr.io/acme/base:1',
      },
      {
        name: 'stage names are case-insensitive',
        file: 'FROM debian:12 AS Deps\nFROM deps\n',
        want: 'debian:12',
      },
      {
        name: '--target picks the stage',
        file: 'FROM node:20 AS dev\nFROM gcr.io/distroless/nodejs20 AS prod\n',
        target: 'dev',
        want: 'node:20',
      },
      {
        name: '--platform flags are not the image',
        file: 'FROM --platform=$BUILDPLATFORM golang:1.22 AS b\nFROM --platform=linux/amd64 alpine\n',
        want: 'alpine',
      },
      {
        name: 'ARG defaults before the first FROM',
        file: 'ARG REG=ghcr.io/acme\nARG TAG=1\nFROM ${REG}/base:$TAG\n',
        want: 'ghcr.io/acme/base:1',
      },
      {
        name: 'build-args override ARG defaults',
        file: 'ARG TAG=1\nFROM acme/base:${TAG}\n',
        args: ['TAG=2'],
        want: 'acme/base:2',
      },
      {
        name: 'a build-arg for an undeclared ARG is not used',
        file: 'FROM acme/base:${TAG:-1}\n',
        args: ['TAG=2'],
        want: 'acme/base:1',
      },
      {
        name: 'an ARG default refers to an earlier ARG',
        file: 'ARG V=20\nARG IMG=node:${V}-slim\nFROM $IMG\n',
        want: 'node:20-slim',
      },
      {
        name: 'an ARG after FROM does not change FROM lines',
        file: 'ARG T=1\nFROM a/b:$T AS one\nARG T=2\nFROM one\n',
        want: 'a/b:1',
      },
      {
        name: 'continuation lines and comments',
        file: '# syntax=docker/dockerfile:1\nFROM \\\n  alpine:3.20 \\\n  AS x\n',
        want: 'alpine:3.20',
      },
      { name: 'an ARG with no value leaves an empty name', file: 'ARG IMG\nFROM $IMG\n', want: undefined },
      { name: 'a quoted default', file: 'ARG IMG="alpine:3"\nFROM $IMG\n', want: 'alpine:3' },
      { name: 'an unknown target', file: 'FROM alpine\n', target: 'nope', want: undefined },
    ];
  it.each(cases)('$name', ({ file, args, target, want }) => {
    expect(baseImageOf(file, args, target)).toBe(want);
  });
});
