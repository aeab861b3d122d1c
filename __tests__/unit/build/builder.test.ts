import { describe, expect, it } from '@jest/globals';
import { cliVersionOf, detectBuilder } from '../../../src/build/builder.js';
import type { Docker } from '../../../src/docker/cli.js';

/** A docker that answers `--version` and `buildx version` as told (undefined: the call fails). */
function docker(version: string, buildx?: string): Docker {
  return {
    run: async (args: string[]) => {
      if (args[0] === '--version') return { stdout: `Docker version ${version}, build abc\n`, stderr: '' };
      if (args[0] === 'buildx' && buildx) return { stdout: `${buildx}\n`, stderr: '' };
      throw new Error(`docker: unknown command: docker ${args.join(' ')}`);
    },
  } as unknown as Docker;
}

describe('the builder each machine gets', () => {
  it.each([
    [
      'a hosted runner (docker 28 with buildx)',
      docker('28.0.4', 'github.com/docker/buildx v0.23.0 28c90ea'),
      {},
      'buildx',
      /buildx 0\.23\.0/,
    ],
    [
      'buildx even when DOCKER_BUILDKIT=1',
      docker('28.0.4', 'github.com/docker/buildx v0.23.0 x'),
      { DOCKER_BUILDKIT: '1' },
      'buildx',
      /buildx/,
    ],
    [
      'docker 20.10 with DOCKER_BUILDKIT=1',
      docker('20.10.24+dfsg1'),
      { DOCKER_BUILDKIT: '1' },
      'buildkit',
      /run by docker 20\.10\.24 itself/,
    ],
    [
      'docker 20.10 with DOCKER_BUILDKIT=true',
      docker('20.10.24'),
      { DOCKER_BUILDKIT: 'true' },
      'buildkit',
      /DOCKER_BUILDKIT=1/,
    ],
    [
      'docker 20.10 without it',
      docker('20.10.24'),
      {},
      'classic',
      /classic docker build \(docker 20\.10\.24/,
    ],
    ['docker 28 without buildx', docker('28.2.2'), {}, 'classic', /no buildx/],
    [
      'DOCKER_BUILDKIT=0 with buildx installed',
      docker('28.0.4', 'github.com/docker/buildx v0.23.0 x'),
      { DOCKER_BUILDKIT: '0' },
      'classic',
      /DOCKER_BUILDKIT=0/,
    ],
  ])('%s', async (_name, d, env, kind, description) => {
    const b = await detectBuilder(d, env);
    expect(b.kind).toBe(kind);
    expect(b.description).toMatch(description);
  });

  it('refuses DOCKER_BUILDKIT=1 where the CLI reaches BuildKit only through a buildx it lacks', async () => {
    await expect(detectBuilder(docker('28.2.2'), { DOCKER_BUILDKIT: '1' })).rejects.toThrow(
      /^DOCKER_BUILDKIT=1 asks for BuildKit, but docker 28\.2\.2 runs BuildKit only through the buildx plugin.*install docker-buildx/,
    );
  });
});

describe("the docker CLI's version", () => {
  it.each([
    ['Docker version 20.10.24+dfsg1, build 297e128', '20.10.24'],
    ['Docker version 28.2.2, build e6534b4', '28.2.2'],
    ['nonsense', undefined],
  ])('%s → %s', (text, want) => {
    expect(cliVersionOf(text)).toBe(want);
  });
});
