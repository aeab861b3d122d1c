import { describe, expect, it } from '@jest/globals';
import { basesToFetch } from '../../../src/build/bases.js';

const o = { file: 'Dockerfile', buildArgs: [] as string[], pull: false, platforms: [] as string[] };

describe('basesToFetch: the FROM images the daemon can fetch before a classic build', () => {
  it.each([
    {
      name: 'a tagged base in a registry, with its registry',
      text: 'FROM ghcr.io/acme/base:1\nRUN make\n',
      want: [{ ref: 'ghcr.io/acme/base:1', registry: 'ghcr.io' }],
    },
    {
      name: 'no tag means latest; Docker Hub names its registry',
      text: 'FROM alpine\n',
      want: [{ ref: 'alpine:latest', registry: 'docker.io' }],
    },
    {
      name: 'a registry port is not a tag',
      text: 'FROM 127.0.0.1:5000/base\n',
      want: [{ ref: '127.0.0.1:5000/base:latest', registry: '127.0.0.1:5000' }],
    },
    {
      name: 'each base once, stages and scratch left out',
      text: 'FROM r.io/b:1 AS deps\nFROM scratch AS empty\nFROM deps\nFROM r.io/b:1\n',
      want: [{ ref: 'r.io/b:1', registry: 'r.io' }],
    },
    {
      name: 'build arguments applied; an unknown one leaves it to the build',
      text: 'ARG V=2\nFROM r.io/b:${V}\nFROM r.io/c:${NOPE}\n',
      want: [{ ref: 'r.io/b:2', registry: 'r.io' }],
    },
    {
      name: 'a digest is pulled by the build as written',
      text: `FROM r.io/b@sha256:${'a'.repeat(64)}\n`,
      want: [],
    },
    {
      name: 'a --platform base is left to the build',
      text: 'FROM --platform=linux/arm64 r.io/b:1\n',
      want: [],
    },
  ])('$name', ({ text, want }) => {
    expect(basesToFetch(o, text)).toEqual(want);
  });

  it.each([
    ['pull: true (the build checks each base again)', { ...o, pull: true }],
    ['platforms given (build.ts pulls for the platform)', { ...o, platforms: ['linux/arm64'] }],
  ])('nothing with %s', (_name, opts) => {
    expect(basesToFetch(opts, 'FROM r.io/b:1\n')).toEqual([]);
  });
});
