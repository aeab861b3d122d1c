import { describe, expect, it } from '@jest/globals';
import { writeFileSync } from 'node:fs';
import * as path from 'node:path';
import type { Builder } from '../../../src/build/builder.js';
import { assertBuilderCan, buildKitLine } from '../../../src/build/features.js';
import { tempDir } from '../../helpers/tmp.js';

describe('Dockerfile lines only BuildKit reads', () => {
  it.each([
    ['# syntax=docker/dockerfile:1\nFROM alpine\n', { line: 1, what: 'a # syntax= directive' }],
    ['# escape=`\n# syntax=docker/dockerfile:1.7\nFROM alpine\n', { line: 2, what: 'a # syntax= directive' }],
    ['FROM alpine\nRUN --mount=type=cache,target=/root/.npm npm ci\n', { line: 2, what: 'RUN --mount' }],
    ['FROM alpine\nRUN --network=none make\n', { line: 2, what: 'RUN --network' }],
    ['FROM alpine\nRUN \\\n  --mount=type=secret,id=npm \\\n  npm ci\n', { line: 2, what: 'RUN --mount' }],
    ['FROM alpine\nCOPY --link app /app\n', { line: 2, what: 'COPY --link' }],
    ['FROM alpine\nCOPY --chmod=755 run.sh /\n', { line: 2, what: 'COPY --chmod' }],
    ['FROM alpine\nADD --checksum=sha256:abc https://x/y /y\n', { line: 2, what: 'ADD --checksum' }],
    ['FROM alpine\nRUN <<EOF\necho hi\nEOF\n', { line: 2, what: 'a heredoc (RUN <<EOF)' }],
    ['FROM alpine\nCOPY <<-"CONF" /etc/app.conf\nx=1\nCONF\n', { line: 2, what: 'a heredoc (COPY <<EOF)' }],
  ])('%j needs BuildKit: %j', (text, want) => {
    expect(buildKitLine(text)).toEqual(want);
  });

  it.each([
    'FROM alpine\nRUN echo --mount=type=cache\n', // a word in the command, not a flag
    'FROM alpine\nRUN echo $((1<<2))\n',
    'FROM alpine\nCOPY --chown=1000 app /app\n',
    'FROM alpine\n# syntax=docker/dockerfile:1\nRUN make\n', // a comment after FROM, not a directive
    'FROM --platform=$BUILDPLATFORM alpine AS build\nRUN make\n',
  ])('%j builds with the classic builder', (text) => {
    expect(buildKitLine(text)).toBeUndefined();
  });
});

const classic: Builder = {
  kind: 'classic',
  description: 'classic docker build (docker 28.2.2, no buildx; …)',
};
const kit: Builder = { kind: 'buildkit', description: 'BuildKit, run by docker 20.10.24 itself' };
const buildx: Builder = { kind: 'buildx', description: 'BuildKit through buildx 0.23.0' };

function options(dockerfile: string, extra: Record<string, unknown> = {}) {
  const dir = tempDir('features');
  const file = path.join(dir, 'Dockerfile');
  writeFileSync(file, dockerfile);
  return {
    platforms: [],
    context: dir,
    file,
    buildArgs: [],
    target: '',
    pull: false,
    noCache: false,
    cacheFrom: [],
    cacheTo: [],
    cache: true,
    network: '',
    secrets: [],
    secretEnv: {},
    ssh: [],
    buildContexts: [],
    addHosts: [],
    shmSize: '',
    ulimits: [],
    ...extra,
  };
}

describe('what each builder refuses before the build', () => {
  const plain = 'FROM alpine\nRUN make\n';
  it.each([
    [
      classic,
      options('FROM alpine\nRUN --mount=type=cache,target=/c make\n'),
      /Dockerfile line 2 uses RUN --mount, which needs BuildKit, and this step builds with the classic builder \(docker 28\.2\.2.*Install docker-buildx/,
    ],
    [
      classic,
      options(plain, { secrets: [{ id: 'npm', input: 'secrets' as const, env: 'PUBLISH_IMAGE_SECRET_0' }] }),
      /^Input "secrets" needs BuildKit/,
    ],
    [
      classic,
      options(plain, { secrets: [{ id: 'npm', input: 'secret-files' as const, file: '/x' }] }),
      /^Input "secret-files" needs BuildKit/,
    ],
    [
      classic,
      options(plain, { secrets: [{ id: 'npm', input: 'secret-envs' as const, env: 'NPM_TOKEN' }] }),
      /^Input "secret-envs" needs BuildKit/,
    ],
    [classic, options(plain, { ssh: ['default'] }), /^Input "ssh" needs BuildKit/],
    [classic, options(plain, { buildContexts: ['a=b'] }), /^Input "build-contexts" needs buildx/],
    [kit, options(plain, { buildContexts: ['a=b'] }), /^Input "build-contexts" needs buildx/],
    [
      kit,
      options(plain, { shmSize: '1g' }),
      /^Input "shm-size" cannot be honoured by BuildKit, run by docker 20\.10\.24/,
    ],
    [kit, options(plain, { ulimits: ['nofile=1:2'] }), /^Input "ulimit" cannot be honoured/],
  ])('%j refuses: %#', (builder, o, want) => {
    expect(() => assertBuilderCan(builder, o)).toThrow(want);
  });

  it.each([
    [classic, options(plain, { shmSize: '1g', ulimits: ['nofile=1:2'], addHosts: ['a:1.2.3.4'] })],
    [
      kit,
      options('FROM alpine\nRUN --mount=type=secret,id=a make\n', {
        secrets: [{ id: 'a', input: 'secret-files' as const, file: '/x' }],
        ssh: ['default'],
      }),
    ],
    [
      buildx,
      options('# syntax=docker/dockerfile:1\nFROM alpine\nCOPY --link a /a\n', {
        buildContexts: ['a=b'],
        shmSize: '1g',
      }),
    ],
  ])('%j builds: %#', (builder, o) => {
    expect(() => assertBuilderCan(builder, o)).not.toThrow();
  });
});
