import { describe, expect, it } from '@jest/globals';
import type { Builder } from '../../../src/build/builder.js';
import { buildCommand, buildEnv, secretFlag } from '../../../src/build/command.js';

const buildx: Builder = { kind: 'buildx', description: 'buildx' };
const kit: Builder = { kind: 'buildkit', description: 'docker 20.10 BuildKit' };
const classic: Builder = { kind: 'classic', description: 'classic' };

const base = {
  context: 'app',
  file: 'app/Dockerfile',
  buildArgs: [],
  target: '',
  pull: false,
  noCache: false,
  cacheFrom: [],
  network: '',
  secrets: [],
  ssh: [],
  buildContexts: [],
  addHosts: [],
  shmSize: '',
  ulimits: [],
  labels: { 'org.opencontainers.image.version': '1.2.3' },
  tags: ['ghcr.io/acme/api:1.2.3'],
};

describe('the docker command line of each builder', () => {
  it.each([
    [
      'buildx loads the image into the daemon and labels and tags it in the build',
      buildx,
      {},
      [
        'buildx',
        'build',
        '--load',
        '--progress=plain',
        '--file',
        'app/Dockerfile',
        '--iidfile',
        'IID',
        '--label',
        'org.opencontainers.image.version=1.2.3',
        '--tag',
        'ghcr.io/acme/api:1.2.3',
        'app',
      ],
    ],
    [
      "docker's own BuildKit labels and tags in the build, plain progress",
      kit,
      {},
      [
        'build',
        '--progress=plain',
        '--file',
        'app/Dockerfile',
        '--iidfile',
        'IID',
        '--label',
        'org.opencontainers.image.version=1.2.3',
        '--tag',
        'ghcr.io/acme/api:1.2.3',
        'app',
      ],
    ],
    [
      'the classic builder removes failed containers and labels afterwards',
      classic,
      {},
      ['build', '--force-rm', '--file', 'app/Dockerfile', '--iidfile', 'IID', 'app'],
    ],
    [
      'buildx with every build option, secrets by id and env name or path only',
      buildx,
      {
        platform: 'linux/arm64',
        target: 'prod',
        pull: true,
        noCache: true,
        network: 'host',
        cacheFrom: ['ghcr.io/acme/api:main'],
        buildArgs: ['A=1'],
        secrets: [
          { id: 'npm', input: 'secrets' as const, env: 'PUBLISH_IMAGE_SECRET_0' },
          { id: 'pypi', input: 'secret-files' as const, file: '/run/pypi' },
          { id: 'gh', input: 'secret-envs' as const, env: 'GH_TOKEN' },
        ],
        ssh: ['default', 'deploy=/keys/id'],
        buildContexts: ['lib=../lib', 'base=docker-image://alpine:3.20'],
        addHosts: ['db:10.0.0.2'],
        shmSize: '2g',
        ulimits: ['nofile=1024:2048'],
        labels: {},
        tags: [],
      },
      [
        'buildx',
        'build',
        '--load',
        '--progress=plain',
        '--file',
        'app/Dockerfile',
        '--iidfile',
        'IID',
        '--platform',
        'linux/arm64',
        '--target',
        'prod',
        '--pull',
        '--no-cache',
        '--network',
        'host',
        '--cache-from',
        'ghcr.io/acme/api:main',
        '--build-arg',
        'A=1',
        '--secret',
        'id=npm,env=PUBLISH_IMAGE_SECRET_0',
        '--secret',
        'id=pypi,src=/run/pypi',
        '--secret',
        'id=gh,env=GH_TOKEN',
        '--ssh',
        'default',
        '--ssh',
        'deploy=/keys/id',
        '--build-context',
        'lib=../lib',
        '--build-context',
        'base=docker-image://alpine:3.20',
        '--add-host',
        'db:10.0.0.2',
        '--shm-size',
        '2g',
        '--ulimit',
        'nofile=1024:2048',
        'app',
      ],
    ],
  ])('%s', (_name, builder, extra, want) => {
    expect(buildCommand({ ...base, ...extra }, 'IID', builder)).toEqual(want);
  });

  it('a rebuild without the cache adds --no-cache whatever the input said', () => {
    expect(buildCommand(base, 'IID', classic, true)).toContain('--no-cache');
  });
});

describe('secret flags', () => {
  it.each([
    [{ id: 'a', input: 'secret-files' as const, file: '/x/y' }, 'id=a,src=/x/y'],
    [{ id: 'a', input: 'secret-files' as const, file: '/x,y' }, 'id=a,"src=/x,y"'],
    [{ id: 'a', input: 'secret-files' as const, file: '/x"y' }, 'id=a,"src=/x""y"'],
    [{ id: 'a', input: 'secret-envs' as const, env: 'TOKEN' }, 'id=a,env=TOKEN'],
  ])('%j is %s (CSV-quoted where docker would split it)', (secret, want) => {
    expect(secretFlag(secret)).toBe(want);
  });
});

describe("docker's environment for a build", () => {
  const secrets = [
    { id: 'npm', input: 'secrets' as const, env: 'PUBLISH_IMAGE_SECRET_0' },
    { id: 'gh', input: 'secret-envs' as const, env: 'GH_TOKEN' },
    { id: 'f', input: 'secret-files' as const, file: '/x' },
  ];
  const env = { GH_TOKEN: 'from-env', OTHER: 'no' };
  it.each([
    [kit, { PUBLISH_IMAGE_SECRET_0: 's', GH_TOKEN: 'from-env', DOCKER_BUILDKIT: '1' }],
    [buildx, { PUBLISH_IMAGE_SECRET_0: 's', GH_TOKEN: 'from-env' }],
  ])('%j: the secrets input under our names, each secret-envs variable, nothing else', (builder, want) => {
    expect(buildEnv(builder, { secretEnv: { PUBLISH_IMAGE_SECRET_0: 's' }, secrets }, env)).toEqual(want);
  });

  it('adds nothing for a build without secrets', () => {
    expect(buildEnv(classic, { secretEnv: {}, secrets: [] }, { A: '1' })).toEqual({});
  });
});
