import { describe, expect, it } from '@jest/globals';
import { baseImageOf, expandArgs } from '../../../src/docker/dockerfile.js';

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

describe('expandArgs', () => {
  const args = new Map([
    ['A', 'x'],
    ['E', ''],
  ]);
  it.each([
    ['$A', 'x'],
    ['${A}', 'x'],
    ['${B:-d}', 'd'],
    ['${E:-d}', 'd'],
    ['${A:-d}', 'x'],
    ['${A:+y}', 'y'],
    ['${B:+y}', ''],
    ['pre-$A-post', 'pre-x-post'],
  ])('%s -> %s', (value, want) => {
    expect(expandArgs(value, args)).toBe(want);
  });
});
