import { describe, expect, it } from '@jest/globals';
import { type Docker, DockerError } from '../../../src/docker/cli.js';
import { dockerLogin } from '../../../src/docker/login.js';
import { silentLogger } from '../../../src/log.js';

const cred = { registry: 'registry.example.com', username: 'ci', password: 'tok' };
const policy = { attempts: 3, baseDelayMs: 1, maxDelayMs: 2, totalMs: 5_000 };

/** A docker whose `login` fails with `stderrs` in turn, then succeeds; counts the logins. */
function dockerSaying(stderrs: string[]): { docker: Docker; logins: () => number } {
  let n = 0;
  const docker = {
    configDir: undefined,
    run: async (args: string[]) => {
      if (args[0] !== 'login') throw new Error(`unexpected docker ${args[0]}`);
      const said = stderrs[n++];
      if (said !== undefined) throw new DockerError(args, 1, said);
      return { stdout: 'Login Succeeded', stderr: '' };
    },
  } as unknown as Docker;
  return { docker, logins: () => n };
}

describe('docker login', () => {
  it.each([
    [
      'a 401 (login attempt ... failed with status: 401 Unauthorized)',
      'Error response from daemon: login attempt to http://registry.example.com/v2/ failed with status: 401 Unauthorized',
    ],
    [
      'an "unauthorized" answer',
      'Error response from daemon: Get "https://registry.example.com/v2/": unauthorized: incorrect username or password',
    ],
  ])('%s is tried once and said as the token refused', async (_what, stderr) => {
    const { docker, logins } = dockerSaying([stderr, stderr, stderr]);
    const err = await dockerLogin(docker, cred, policy, silentLogger).catch((e: Error) => e);
    expect(logins()).toBe(1);
    expect((err as Error).message).toMatch(
      /registry\.example\.com as ci failed: the registry refused the token \(401 Unauthorized\)/,
    );
    expect((err as Error).message).toMatch(/Not tried again/);
  });

  it('a 502 from the registry is retried, and the login then succeeds', async () => {
    const { docker, logins } = dockerSaying([
      'Error response from daemon: Get "http://registry.example.com/v2/": received unexpected HTTP status: 502 Bad Gateway',
    ]);
    await dockerLogin(docker, cred, policy, silentLogger);
    expect(logins()).toBe(2);
  });
});
