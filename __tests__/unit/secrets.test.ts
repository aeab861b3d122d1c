import { describe, expect, it } from '@jest/globals';
import { childEnv, maskSecret } from '../../src/secrets.js';
import { shownArgs, withoutHelperOutput } from '../../src/docker/cli.js';

describe("a child's environment holds no secret", () => {
  maskSecret('a-registry-token-0123456789');
  const ours = {
    PATH: '/usr/bin:/bin',
    HOME: '/home/runner',
    INPUT_PASSWORD: 'pw',
    'INPUT_REGISTRY-AUTH': '- registry: x',
    'INPUT_GITHUB-TOKEN': 'ghs_x',
    INPUT_IMAGES: 'acme/api',
    STATE_configDir: '/tmp/x',
    ACTIONS_RUNTIME_TOKEN: 'rt',
    ACTIONS_ID_TOKEN_REQUEST_TOKEN: 'it',
    ACTIONS_ID_TOKEN_REQUEST_URL: 'https://oidc',
    GITHUB_TOKEN: 'ghs_y',
    MY_TOKEN: 'a-registry-token-0123456789',
    WRAPPED: 'Bearer a-registry-token-0123456789',
    GITHUB_REPOSITORY: 'acme/api',
  };
  it.each([
    ['keeps what programs need', 'PATH', '/usr/bin:/bin'],
    ['keeps the runner context', 'GITHUB_REPOSITORY', 'acme/api'],
    ['drops every input, not only the tokens', 'INPUT_IMAGES', undefined],
    ['drops the password input', 'INPUT_PASSWORD', undefined],
    ['drops registry-auth (hyphen kept in the name)', 'INPUT_REGISTRY-AUTH', undefined],
    ['drops github-token', 'INPUT_GITHUB-TOKEN', undefined],
    ['drops the saved state', 'STATE_configDir', undefined],
    ["drops the runner's own tokens", 'ACTIONS_RUNTIME_TOKEN', undefined],
    ['drops the OIDC request token', 'ACTIONS_ID_TOKEN_REQUEST_TOKEN', undefined],
    ['drops GITHUB_TOKEN', 'GITHUB_TOKEN', undefined],
    ['drops a variable whose value is a masked secret', 'MY_TOKEN', undefined],
    ['drops a variable whose value holds a masked secret', 'WRAPPED', undefined],
  ])('%s (%s)', (_what, name, want) => {
    expect(childEnv({}, ours)[name]).toBe(want);
  });

  it('adds the one value a child needs', () => {
    expect(childEnv({ DOCKER_CONFIG: '/tmp/cfg' }, ours).DOCKER_CONFIG).toBe('/tmp/cfg');
  });
});

describe('the debug log shows build arguments by name', () => {
  it.each([
    [
      ['build', '--build-arg', 'TOKEN=s3cr3t', '.'],
      ['build', '--build-arg', 'TOKEN=***', '.'],
    ],
    [
      ['build', '--build-arg', 'A=x=y', '--build-arg', 'B', '.'],
      ['build', '--build-arg', 'A=***', '--build-arg', 'B', '.'],
    ],
    [
      ['buildx', 'build', '--label', 'a=b', '.'],
      ['buildx', 'build', '--label', 'a=b', '.'],
    ],
    [
      ['push', 'r/x:1'],
      ['push', 'r/x:1'],
    ],
  ])('%j', (args, want) => {
    expect(shownArgs(args)).toEqual(want);
  });
});

describe("what a credential helper printed is taken out of docker's words", () => {
  it.each([
    [
      'a build warning',
      'time="x" level=warning msg="Failed to get credentials for registry: r:1" error="error getting credentials - err: exit status 1, out: `{\\"Secret\\":\\"s3cr3t\\"}`"',
      'time="x" level=warning msg="Failed to get credentials for registry: r:1" error="error getting credentials - err: exit status 1, out: (not shown)"',
    ],
    [
      'a push error',
      'error getting credentials - err: exit status 1, out: `token s3cr3t`\nnext line',
      'error getting credentials - err: exit status 1, out: (not shown)\nnext line',
    ],
    [
      'anything else',
      'denied: requested access to the resource is denied',
      'denied: requested access to the resource is denied',
    ],
  ])('%s', (_what, said, want) => {
    expect(withoutHelperOutput(said)).toBe(want);
  });
});
