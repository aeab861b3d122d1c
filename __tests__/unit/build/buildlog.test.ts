import { describe, expect, it } from '@jest/globals';
import { BuildLog, isBanner } from '../../../src/build/buildlog.js';

const BANNER = [
  'DEPRECATED: The legacy builder is deprecated and will be removed in a future release.',
  '            Install the buildx component to build images with BuildKit:',
  '            https://docs.docker.com/go/buildx/',
  '',
];

/** Feeds a log through BuildLog as docker's lines arrive, and returns what reached the log. */
function feed(lines: string[]): { log: BuildLog; shown: string[] } {
  const log = new BuildLog();
  const shown: string[] = [];
  for (const l of lines) {
    const s = log.line(l);
    if (s !== undefined) shown.push(s);
  }
  return { log, shown };
}

const classicRun = [
  ...BANNER,
  'Sending build context to Docker daemon  2.048kB',
  'Step 1/4 : FROM local/busybox',
  ' ---> c3fbb28ee8b4',
  'Step 2/4 : RUN echo hello',
  ' ---> Running in d71176db3cd5',
  'hello',
  'Removing intermediate container d71176db3cd5',
  ' ---> 4adfddfc9ca5',
  'Step 3/4 : RUN echo failing >&2; exit 3',
  ' ---> Running in ed130b7e1916',
  '\x1b[91mfailing',
  '\x1b[0m',
  "The command '/bin/sh -c echo failing >&2; exit 3' returned a non-zero code: 3",
];

const buildxRun = [
  '#0 building with "default" instance using docker driver',
  '#1 [internal] load build definition from Dockerfile',
  '#1 transferring dockerfile: 87B done',
  '#1 DONE 0.0s',
  '#2 [internal] load metadata for docker.io/library/busybox:latest',
  '#2 DONE 0.5s',
  '#4 [1/3] FROM docker.io/library/busybox:latest@sha256:0123',
  '#4 CACHED',
  '#5 [2/3] RUN echo failing >&2; exit 3',
  '#5 0.198 compiling',
  '#5 0.199 failing',
  '#5 ERROR: process "/bin/sh -c echo failing >&2; exit 3" did not complete successfully: exit code: 3',
  '------',
  ' > [2/3] RUN echo failing >&2; exit 3:',
  '0.198 compiling',
  '0.199 failing',
  '------',
  'Dockerfile:2',
  '--------------------',
  '   1 |     FROM busybox',
  '   2 | >>> RUN echo failing >&2; exit 3',
  '--------------------',
  'ERROR: failed to solve: process "/bin/sh -c echo failing >&2; exit 3" did not complete successfully: exit code: 3',
];

/** docker 20.10's own BuildKit (DOCKER_BUILDKIT=1, no buildx), as it printed here. */
const docker20Run = [
  '#5 [2/3] RUN echo ok',
  '#5 sha256:3fb9bf9d520ea300b4b0d1e1685928678c5151be6e7525976450023caa3e4094',
  '#5 0.196 ok',
  '#5 DONE 0.2s',
  '',
  '#6 [3/3] RUN echo boom && exit 3',
  '#6 sha256:cfa44927a72bc20cf5020d20d93b036c3f40b860b8eaa97c67cc64c5f558e7b3',
  '#6 0.327 boom',
  '#6 ERROR: executor failed running [/bin/sh -c echo boom && exit 3]: exit code: 3',
  '------',
  ' > [3/3] RUN echo boom && exit 3:',
  '------',
  'executor failed running [/bin/sh -c echo boom && exit 3]: exit code: 3',
];

describe('BuildLog: a failing RUN is told by its step and exit code', () => {
  it.each([
    [
      "docker 20.10's BuildKit",
      docker20Run,
      'Dockerfile step 3/3 (RUN echo boom && exit 3) failed with exit code 3. Its last output:\n  boom',
    ],
    [
      'classic builder',
      classicRun,
      'Dockerfile step 3/4 (RUN echo failing >&2; exit 3) failed with exit code 3. Its last output:\n  failing',
    ],
    [
      'buildx',
      buildxRun,
      'Dockerfile step 2/3 (RUN echo failing >&2; exit 3) failed with exit code 3. Its last output:\n  compiling\n  failing',
    ],
    [
      'a RUN that printed nothing',
      [
        'Step 1/2 : FROM local/busybox',
        'Step 2/2 : RUN exit 1',
        ' ---> Running in 1',
        "The command '/bin/sh -c exit 1' returned a non-zero code: 1",
      ],
      'Dockerfile step 2/2 (RUN exit 1) failed with exit code 1. It printed nothing.',
    ],
  ])('%s', (_name, lines, message) => {
    const { log } = feed(lines);
    const err = log.failure(3, '', []);
    expect(err.message).toBe(message);
    expect(err.message).not.toContain('DEPRECATED');
  });

  it('leaves the deprecation banner out of the build log, and keeps every other line', () => {
    const { shown } = feed(classicRun);
    expect(shown.join('\n')).not.toMatch(/DEPRECATED|buildx/);
    expect(shown).toContain('Step 3/4 : RUN echo failing >&2; exit 3');
    expect(shown).toContain('hello');
    for (const b of BANNER.slice(0, 3)) expect(isBanner(b)).toBe(true);
    expect(isBanner('Step 1/2 : FROM x')).toBe(false);
  });

  it('reads stderr when no line was streamed', () => {
    const log = new BuildLog();
    const err = log.failure(
      1,
      [...BANNER, 'unable to prepare context: path "/nope" not found'].join('\n'),
      [],
    );
    expect(err.message).toBe(
      'docker build failed (docker build exit 1): unable to prepare context: path "/nope" not found',
    );
  });
});

describe('BuildLog: a base image that cannot be pulled names the image, its registry and what to do', () => {
  const none: { registry: string; username: string }[] = [];
  it.each([
    [
      'classic, a private registry without a login',
      [
        ...BANNER,
        'Step 1/2 : FROM 127.0.0.1:5142/private/base:1',
        'Head "http://127.0.0.1:5142/v2/private/base/manifests/1": no basic auth credentials',
      ],
      none,
      [
        /^The base image 127\.0\.0\.1:5142\/private\/base:1 could not be pulled from 127\.0\.0\.1:5142 \(Dockerfile step 1\/2 \(FROM 127\.0\.0\.1:5142\/private\/base:1\)\): 127\.0\.0\.1:5142 wants credentials for it, and this step has no login for 127\.0\.0\.1:5142\./,
        /add a login for 127\.0\.0\.1:5142 to registry-auth/,
        /check the image name and that the repository exists/,
        /docker said: Head "http:\/\/127\.0\.0\.1:5142\/v2\/private\/base\/manifests\/1": no basic auth credentials$/,
      ],
    ],
    [
      'classic, a login the registry refused',
      [
        'Step 1/2 : FROM 127.0.0.1:5142/private/base:1',
        'Head "http://127.0.0.1:5142/v2/private/base/manifests/1": unauthorized: authentication required',
      ],
      [{ registry: '127.0.0.1:5142', username: 'bob' }],
      [/refused the login of this step \(bob\)/, /Check that bob may pull this repository/],
    ],
    [
      'classic, Docker Hub: pull access denied',
      [
        'Step 1/1 : FROM acme/private-base:1',
        "pull access denied for acme/private-base, repository does not exist or may require 'docker login': denied: requested access to the resource is denied",
      ],
      none,
      [
        /^The base image acme\/private-base:1 could not be pulled from docker\.io /,
        /add a login for docker\.io to registry-auth/,
        /lifts that limit/,
      ],
    ],
    [
      'classic, Docker Hub rate limit',
      [
        'Step 1/2 : FROM node:20',
        'toomanyrequests: You have reached your pull rate limit. You may increase the limit by authenticating and upgrading: https://www.docker.com/increase-rate-limit',
      ],
      none,
      [
        /^The base image node:20 could not be pulled from docker\.io .*: docker\.io refused it: the pull rate limit was reached\. Log in to Docker Hub/,
      ],
    ],
    [
      'classic, a tag that does not exist',
      [
        'Step 1/2 : FROM ghcr.io/acme/base:9',
        'manifest for ghcr.io/acme/base:9 not found: manifest unknown: manifest unknown',
      ],
      none,
      [
        /^The base image ghcr\.io\/acme\/base:9 could not be pulled from ghcr\.io .*: ghcr\.io has no such image\. Check the image name and tag/,
      ],
    ],
    [
      'classic, COPY --from an image, named only by the URL',
      [
        'Step 2/3 : COPY --from=127.0.0.1:5142/tools/bin:2 /bin/x /x',
        'Head "http://127.0.0.1:5142/v2/tools/bin/manifests/2": no basic auth credentials',
      ],
      none,
      [
        /^The base image 127\.0\.0\.1:5142\/tools\/bin:2 could not be pulled from 127\.0\.0\.1:5142 \(Dockerfile step 2\/3 \(COPY/,
      ],
    ],
    [
      'buildx, a private registry without a login',
      [
        '#2 [internal] load metadata for 127.0.0.1:5142/private/base:1',
        '#2 ERROR: failed to authorize: failed to fetch anonymous token: unexpected status from GET request to http://127.0.0.1:5142/token: 401 Unauthorized',
        '------',
        ' > [internal] load metadata for 127.0.0.1:5142/private/base:1:',
        '------',
        'ERROR: failed to solve: 127.0.0.1:5142/private/base:1: failed to resolve source metadata for 127.0.0.1:5142/private/base:1: failed to authorize: failed to fetch anonymous token: unexpected status from GET request to http://127.0.0.1:5142/token: 401 Unauthorized',
      ],
      none,
      [
        /^The base image 127\.0\.0\.1:5142\/private\/base:1 could not be pulled from 127\.0\.0\.1:5142 \(docker build\): 127\.0\.0\.1:5142 wants credentials/,
      ],
    ],
  ])('%s', (_name, lines, logins, expected) => {
    const { log } = feed(lines);
    const message = log.failure(1, '', logins).message;
    for (const re of expected) expect(message).toMatch(re);
    expect(message).not.toContain('DEPRECATED');
  });

  it.each([
    [
      'classic COPY of a missing file',
      [
        'Step 1/2 : FROM scratch',
        'Step 2/2 : COPY nope /nope',
        'COPY failed: file not found in build context or excluded by .dockerignore: stat nope: file does not exist',
      ],
      'Dockerfile step 2/2 (COPY nope /nope) failed (docker build exit 1): COPY failed: file not found in build context or excluded by .dockerignore: stat nope: file does not exist',
    ],
    [
      'buildx COPY of a missing file (the base loaded fine)',
      [
        '#2 [internal] load metadata for docker.io/library/busybox:latest',
        '#2 DONE 0.1s',
        '#5 [2/2] COPY nope /nope',
        '#5 ERROR: failed to calculate checksum of ref abc::def: "/nope": not found',
        '------',
        ' > [2/2] COPY nope /nope:',
        '------',
        'ERROR: failed to solve: failed to compute cache key: failed to calculate checksum of ref abc::def: "/nope": not found',
      ],
      'Dockerfile step 2/2 (COPY nope /nope) failed (docker build exit 1): failed to compute cache key: failed to calculate checksum of ref abc::def: "/nope": not found',
    ],
  ])('other failures name the step and quote docker: %s', (_name, lines, message) => {
    expect(feed(lines).log.failure(1, '', []).message).toBe(message);
  });
});

describe('BuildLog: the digests BuildKit resolved its bases to', () => {
  it.each([
    [
      ['#5 [1/2] FROM 127.0.0.1:5101/test/bb:1@sha256:' + 'b'.repeat(64)],
      { '127.0.0.1:5101/test/bb:1': 'sha256:' + 'b'.repeat(64) },
    ],
    [
      [
        '#4 [build 1/3] FROM docker.io/library/alpine:3.20@sha256:' + 'a'.repeat(64),
        '#7 [stage-1 1/2] FROM docker.io/local/busybox:latest',
      ],
      { 'docker.io/library/alpine:3.20': 'sha256:' + 'a'.repeat(64) },
    ],
    [['Step 1/2 : FROM alpine:3.20'], {}],
  ])('%j', (lines, want) => {
    expect(Object.fromEntries(feed(lines).log.resolvedBases())).toEqual(want);
  });
});

describe('BuildLog: a Dockerfile docker 20.10 cannot parse', () => {
  it('names the parse error without the frontend banner', () => {
    const { log } = feed([
      '#1 [internal] load build definition from Dockerfile',
      'failed to solve with frontend dockerfile.v0: failed to create LLB definition: dockerfile parse error line 3: unknown instruction: ECHO',
    ]);
    expect(log.failure(1, '', []).message).toBe(
      'docker build failed (docker build exit 1): dockerfile parse error line 3: unknown instruction: ECHO',
    );
  });
});

describe("BuildLog: docker 20.10's BuildKit on a cache record whose layers are gone", () => {
  it('says the cause and the command that clears it', () => {
    const { log } = feed([
      '#6 [3/3] COPY hello.txt /hello.txt',
      '#6 ERROR: extract requires an applier',
      'failed to compute cache key: extract requires an applier',
    ]);
    const said = log.failure(1, '', []).message;
    expect(said).toMatch(/^Dockerfile step 3\/3 \(COPY hello\.txt \/hello\.txt\) failed/);
    expect(said).toContain('`docker builder prune` clears it');
  });
});
