import { afterEach, describe, expect, it } from '@jest/globals';
import { writeFileSync } from 'node:fs';
import * as path from 'node:path';
import { credentialBuildArgs, readBuildInputs } from '../../../src/build/inputs.js';
import { InputError } from '../../../src/errors.js';
import { captureStdout, setInputs } from '../../helpers/inputs.js';
import { tempDir } from '../../helpers/tmp.js';

const dir = tempDir('build-inputs');
const secretFile = path.join(dir, 'token');
writeFileSync(secretFile, 'file-secret');
writeFileSync(path.join(dir, 'Dockerfile'), 'FROM scratch\n');

const stdout = captureStdout();
afterEach(() => {
  delete process.env.MY_TOKEN;
  delete process.env.SSH_AUTH_SOCK;
});

describe('build secrets', () => {
  it('reads all three inputs: values masked at once and kept for docker under names of our own', () => {
    process.env.MY_TOKEN = 'env-secret';
    setInputs({
      context: dir,
      secrets: 'npm=abc=def\n# a comment\npypi=xyz',
      'secret-files': `file=${secretFile}`,
      'secret-envs': 'gh=MY_TOKEN',
    });
    const b = readBuildInputs(true);
    expect(b.secrets).toEqual([
      { id: 'npm', input: 'secrets' as const, env: 'PUBLISH_IMAGE_SECRET_0' },
      { id: 'pypi', input: 'secrets' as const, env: 'PUBLISH_IMAGE_SECRET_1' },
      { id: 'file', input: 'secret-files' as const, file: secretFile },
      { id: 'gh', input: 'secret-envs' as const, env: 'MY_TOKEN' },
    ]);
    expect(b.secretEnv).toEqual({ PUBLISH_IMAGE_SECRET_0: 'abc=def', PUBLISH_IMAGE_SECRET_1: 'xyz' });
    const masked = stdout
      .lines()
      .filter((w) => w.startsWith('::add-mask::'))
      .map((w) => w.trim());
    expect(masked).toEqual(['::add-mask::abc=def', '::add-mask::xyz', '::add-mask::env-secret']);
  });

  it.each([
    [
      'a secrets line without id=, named by its number and masked',
      { secrets: 'barevalue' },
      'secrets',
      'line 1',
    ],
    ['an id with a space', { secrets: 'my id=v' }, 'secrets', 'line 1'],
    [
      'a secret file that does not exist',
      { 'secret-files': 'a=/no/such/file' },
      'secret-files',
      'a=/no/such/file',
    ],
    ['a secret env that is not set', { 'secret-envs': 'a=NOT_SET_HERE' }, 'secret-envs', 'a=NOT_SET_HERE'],
    ['a secret env that is no variable name', { 'secret-envs': 'a=1X' }, 'secret-envs', 'a=1X'],
    ['the same id twice', { secrets: 'a=1', 'secret-files': `a=${secretFile}` }, 'secret-files', 'a'],
    ['ssh default without an agent', { ssh: 'default' }, 'ssh', 'default'],
    ['an ssh key that does not exist', { ssh: 'deploy=/no/key' }, 'ssh', 'deploy=/no/key'],
    ['a malformed host entry', { 'add-hosts': 'db' }, 'add-hosts', 'db'],
    ['a host entry with no address', { 'add-hosts': 'db:not-an-ip' }, 'add-hosts', 'db:not-an-ip'],
    ['a bad shm size', { 'shm-size': 'lots' }, 'shm-size', 'lots'],
    ['an unknown ulimit', { ulimit: 'files=1' }, 'ulimit', 'files=1'],
    ['a build context without a name', { 'build-contexts': '../lib' }, 'build-contexts', '../lib'],
  ])('refuses %s', (_name, inputs, input, value) => {
    setInputs({ context: dir, ...inputs });
    let err: unknown;
    try {
      readBuildInputs(true);
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(InputError);
    expect((err as InputError).input).toBe(input);
    expect((err as InputError).value).toBe(value);
    if (input === 'secrets') expect(stdout.lines().join('')).toContain('::add-mask::');
  });

  it('takes add-hosts as host:ip or host=ip, and ulimit, shm-size and ssh as docker does', () => {
    process.env.SSH_AUTH_SOCK = '/tmp/agent.sock';
    setInputs({
      context: dir,
      'add-hosts': 'db:10.0.0.2, cache=::1\nhost.docker.internal:host-gateway',
      'shm-size': '2g',
      ulimit: 'nofile=1024:2048\nnproc=-1',
      ssh: `default\ndeploy=${secretFile}`,
    });
    const b = readBuildInputs(true);
    expect(b.addHosts).toEqual(['db:10.0.0.2', 'cache:::1', 'host.docker.internal:host-gateway']);
    expect(b.shmSize).toBe('2g');
    expect(b.ulimits).toEqual(['nofile=1024:2048', 'nproc=-1']);
    expect(b.ssh).toEqual(['default', `deploy=${secretFile}`]);
  });
});

describe('build arguments that look like credentials', () => {
  it.each([
    [['NPM_TOKEN=x'], [], ['NPM_TOKEN looks like a credential']],
    [
      ['DB_PASSWORD=x', 'AWS_SECRET_ACCESS_KEY=y', 'SSH_KEY=z'],
      [],
      ['DB_PASSWORD', 'AWS_SECRET_ACCESS_KEY', 'SSH_KEY'],
    ],
    [['MODE=prod', 'KEYBOARD=us', 'VERSION=1.2.3'], [], []],
    [['HARMLESS=hunter22'], ['hunter22'], ["HARMLESS carries the value of one of the step's secrets"]],
    [['SHORT=ab'], ['ab'], []], // values too short to be tokens are not compared
  ])('%j with secrets %j warns about %j', (args, secrets, want) => {
    const warnings = credentialBuildArgs(args, secrets);
    expect(warnings).toHaveLength(want.length);
    for (const [i, w] of want.entries()) expect(warnings[i]).toContain(w);
    for (const w of warnings) {
      expect(w).toMatch(/secrets input .*RUN --mount=type=secret,id=/);
      for (const s of secrets) expect(w).not.toContain(s);
    }
  });
});
