import { describe, expect, it } from '@jest/globals';
import { writeFileSync } from 'node:fs';
import * as path from 'node:path';
import { getInputs } from '../../src/inputs.js';
import { captureStdout, setInputs } from '../helpers/inputs.js';
import { tempDir } from '../helpers/tmp.js';

const ctx = tempDir('inputs');
writeFileSync(path.join(ctx, 'Dockerfile'), 'FROM scratch\n');

const stdout = captureStdout();

const ok = { images: 'ghcr.io/acme/api', context: ctx };

describe('getInputs rejects bad input, naming the input and the value', () => {
  it.each([
    ['no images', { images: '' }, 'images'],
    ['a password without a username', { password: 'tok' }, 'username'],
    ['a username without a password', { username: 'me' }, 'password'],
    [
      'registry-auth with username/password',
      { 'registry-auth': '- registry: x.io', username: 'a', password: 'b' },
      'registry-auth',
    ],
    ['malformed registry-auth YAML', { 'registry-auth': '- registry: [unclosed' }, 'registry-auth'],
    ['registry-auth that is not a list', { 'registry-auth': 'registry: ghcr.io' }, 'registry-auth'],
    [
      'registry-auth entry without a password',
      { 'registry-auth': '- registry: ghcr.io\n  username: me' },
      'registry-auth',
    ],
    [
      'the same registry twice',
      {
        'registry-auth':
          '- {registry: a.io, username: u, password: p}\n- {registry: a.io, username: v, password: q}',
      },
      'registry-auth',
    ],
    ['a registry that is not a host', { registry: 'not a host', username: 'u', password: 'p' }, 'registry'],
    ['a context that does not exist', { context: '/nonexistent/dir' }, 'context'],
    ['a Dockerfile that does not exist', { file: path.join(ctx, 'Nope.Dockerfile') }, 'file'],
    ['a non-boolean pull', { pull: 'yes' }, 'pull'],
    ['a non-boolean no-cache', { 'no-cache': '1' }, 'no-cache'],
    ['a non-boolean dry-run', { 'dry-run': 'maybe' }, 'dry-run'],
    ['a non-boolean logout', { logout: 'no' }, 'logout'],
    ['a bad push mode', { push: 'always' }, 'push'],
    ['a bad platform', { platforms: 'amd64' }, 'platforms'],
    ['a bad merge digest', { 'merge-digests': 'sha256:abc' }, 'merge-digests'],
    ['a bad build arg', { 'build-args': '=x' }, 'build-args'],
    ['a zero retry count', { 'retry-attempts': '0' }, 'retry-attempts'],
    ['a base that is no image name', { base: 'Acme/Base:1' }, 'base'],
    ['a provenance mode BuildKit does not have', { provenance: 'mode=maximum' }, 'provenance'],
    ['a provenance that is not a mode', { provenance: 'yes' }, 'provenance'],
    ['an attest that is not true or false', { attest: 'sign' }, 'attest'],
  ])('%s', (_name, inputs, input) => {
    setInputs({ ...ok, ...inputs });
    expect(() => getInputs()).toThrow(new RegExp(`^Input "${input}"`));
  });
});

describe('getInputs reads valid input', () => {
  it('masks the password and its base64 forms the moment it is read', () => {
    setInputs({ ...ok, username: 'me', password: 's3cret-token' });
    const inputs = getInputs();
    expect(inputs.logins).toEqual([{ registry: 'docker.io', username: 'me', password: 's3cret-token' }]);
    const masks = stdout
      .lines()
      .filter((l) => l.startsWith('::add-mask::'))
      .join('');
    expect(masks).toContain('::add-mask::s3cret-token');
    expect(masks).toContain(`::add-mask::${Buffer.from('me:s3cret-token').toString('base64')}`);
  });

  it('masks every registry-auth password, even when the YAML is then rejected', () => {
    setInputs({ ...ok, 'registry-auth': '- registry: a.io\n  username: u\n  password: tok-1\n- [broken' });
    expect(() => getInputs()).toThrow(/registry-auth/);
    expect(stdout.lines().join('')).toContain('::add-mask::tok-1');
  });

  it('reads registry-auth into one login per registry, normalising the host', () => {
    setInputs({
      ...ok,
      'registry-auth':
        '- {registry: "https://ghcr.io/", username: a, password: p1}\n- {username: b, password: p2}',
    });
    expect(getInputs().logins).toEqual([
      { registry: 'ghcr.io', username: 'a', password: 'p1' },
      { registry: 'docker.io', username: 'b', password: 'p2' },
    ]);
  });

  it('an empty token on a run without secrets (fork pull request) is not an error, just no login', () => {
    setInputs({ ...ok, username: 'octocat', password: '' });
    expect(getInputs(true).logins).toEqual([]);
  });

  it('an empty token is still an error with push: true on such a run', () => {
    setInputs({ ...ok, username: 'octocat', password: '', push: 'true' });
    expect(() => getInputs(true)).toThrow(/^Input "password"/);
  });

  it('a dry run needs no images and no build context', () => {
    setInputs({ images: '', context: '/nonexistent', 'dry-run': 'true' });
    expect(getInputs().dryRun).toBe(true);
  });

  it('source or merge-digests need no build context', () => {
    setInputs({ ...ok, context: '/nonexistent', source: 'local/app:dev' });
    expect(getInputs().source).toBe('local/app:dev');
  });

  it('attest is off unless asked for', () => {
    setInputs(ok);
    expect(getInputs().attest).toBe(false);
    setInputs({ ...ok, attest: 'true' });
    expect(getInputs().attest).toBe(true);
  });

  it('defaults: push auto, logout, latest-forward-only, 5 attempts in 90 s, newline separators', () => {
    setInputs(ok);
    const i = getInputs();
    expect([
      i.push,
      i.logout,
      i.latestForwardOnly,
      i.retryAttempts,
      i.retryTimeoutSeconds,
      i.sepTags,
    ]).toEqual(['auto', true, true, 5, 90, '\n']);
  });
});
