import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { chmod, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  dockerConfigCredentials,
  registryKey,
  staticCredentials,
  type HelperRunner,
} from '../../../src/registry/credentials.js';

const b64 = (s: string) => Buffer.from(s).toString('base64');

describe('docker config.json credentials', () => {
  let dir = '';
  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'creds-'));
  });
  afterAll(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  const config = {
    auths: {
      'https://index.docker.io/v1/': { auth: b64('hubuser:hub:pass') },
      '127.0.0.1:5101': { auth: b64('alice:secret') },
      'https://ghcr.io': { username: 'octo', password: 'ghp_x' },
      'registry.example.com': { identitytoken: 'refresh-me' },
      'empty.example.com': {},
    },
    credHelpers: { 'helped.example.com': 'fake' },
  };

  it.each([
    ['docker.io', { username: 'hubuser', password: 'hub:pass' }],
    ['index.docker.io', { username: 'hubuser', password: 'hub:pass' }],
    ['127.0.0.1:5101', { username: 'alice', password: 'secret' }],
    ['ghcr.io', { username: 'octo', password: 'ghp_x' }],
    ['registry.example.com', { identityToken: 'refresh-me' }],
    ['empty.example.com', undefined],
    ['127.0.0.1:5102', undefined],
  ])('finds %s', async (registry, expected) => {
    await writeFile(join(dir, 'config.json'), JSON.stringify(config));
    const asked: string[] = [];
    const runner: HelperRunner = async (helper, url) => {
      asked.push(`${helper} ${url}`);
      return undefined;
    };
    expect(await dockerConfigCredentials(dir, runner)(registry)).toEqual(expected);
    expect(asked).toEqual([]);
  });

  it('asks credHelpers[host] with the server URL, and credsStore for the rest', async () => {
    await writeFile(join(dir, 'config.json'), JSON.stringify({ ...config, credsStore: 'store' }));
    const asked: string[] = [];
    const runner: HelperRunner = async (helper, url) => {
      asked.push(`${helper} ${url}`);
      if (helper === 'fake') return JSON.stringify({ ServerURL: url, Username: 'h', Secret: 's' });
      if (url === 'https://index.docker.io/v1/')
        return JSON.stringify({ Username: '<token>', Secret: 'idt' });
      return undefined;
    };
    const lookup = dockerConfigCredentials(dir, runner);
    expect(await lookup('helped.example.com')).toEqual({ username: 'h', password: 's' });
    expect(await lookup('other.example.com')).toBeUndefined();
    expect(await lookup('127.0.0.1:5101')).toEqual({ username: 'alice', password: 'secret' }); // inline auth first
    expect(asked).toEqual(['fake helped.example.com', 'store other.example.com']);
  });

  it('identifies Docker Hub to helpers as https://index.docker.io/v1/ and maps <token> to an identity token', async () => {
    await writeFile(join(dir, 'config.json'), JSON.stringify({ credsStore: 'store' }));
    const runner: HelperRunner = async (_helper, url) =>
      url === 'https://index.docker.io/v1/'
        ? JSON.stringify({ Username: '<token>', Secret: 'idt' })
        : undefined;
    expect(await dockerConfigCredentials(dir, runner)('docker.io')).toEqual({ identityToken: 'idt' });
  });

  it('runs a real docker-credential-<helper> with the server URL on stdin, never in argv', async () => {
    const bin = join(dir, 'bin');
    await rm(bin, { recursive: true, force: true });
    await (await import('node:fs/promises')).mkdir(bin);
    const script = join(bin, 'docker-credential-unit');
    await writeFile(
      script,
      '#!/bin/sh\n[ "$1" = get ] || exit 3\nread url\n[ "$url" = helped.example.com ] || { echo "credentials not found in native keychain"; exit 1; }\n' +
        'printf \'{"ServerURL":"%s","Username":"u","Secret":"p w"}\' "$url"\n',
    );
    await chmod(script, 0o755);
    await writeFile(join(dir, 'config.json'), JSON.stringify({ credsStore: 'unit' }));
    const oldPath = process.env.PATH;
    process.env.PATH = `${bin}:${oldPath}`;
    try {
      const lookup = dockerConfigCredentials(dir);
      expect(await lookup('helped.example.com')).toEqual({ username: 'u', password: 'p w' });
      expect(await lookup('elsewhere.example.com')).toBeUndefined();
    } finally {
      process.env.PATH = oldPath;
    }
  });

  it("a failing helper's output stays out of the error, and the helper sees none of the step's inputs", async () => {
    const bin = join(dir, 'bin-noisy');
    await (await import('node:fs/promises')).mkdir(bin, { recursive: true });
    const seen = join(dir, 'noisy-env');
    await writeFile(
      join(bin, 'docker-credential-noisy'),
      `#!/bin/sh\nenv > '${seen}'\necho 'stdout-secret-XYZ'\necho 'stderr-secret-XYZ' >&2\nexit 1\n`,
      { mode: 0o755 },
    );
    await writeFile(join(dir, 'config.json'), JSON.stringify({ credsStore: 'noisy' }));
    const old = { path: process.env.PATH, input: process.env.INPUT_PASSWORD };
    process.env.PATH = `${bin}:${old.path}`;
    process.env.INPUT_PASSWORD = 'input-password-ABC';
    try {
      const err = await dockerConfigCredentials(dir)('noisy.example.com').catch((e: Error) => e);
      expect(err).toBeInstanceOf(Error);
      expect((err as Error).message).toMatch(
        /docker-credential-noisy failed \(exit 1\) for noisy.example.com/,
      );
      expect((err as Error).message).not.toMatch(/secret-XYZ/);
      const env = await (await import('node:fs/promises')).readFile(seen, 'utf8');
      expect(env).toContain('PATH=');
      expect(env).not.toMatch(/INPUT_|input-password-ABC/);
    } finally {
      process.env.PATH = old.path;
      if (old.input === undefined) delete process.env.INPUT_PASSWORD;
      else process.env.INPUT_PASSWORD = old.input;
    }
  });

  it('has no credentials when config.json is missing', async () => {
    expect(await dockerConfigCredentials(join(dir, 'nope'))('docker.io')).toBeUndefined();
  });
});

describe('registryKey normalises config keys', () => {
  it.each([
    ['https://index.docker.io/v1/', 'docker.io'],
    ['registry-1.docker.io', 'docker.io'],
    ['http://127.0.0.1:5101/v2/', '127.0.0.1:5101'],
    ['GHCR.io', 'ghcr.io'],
  ])('%s → %s', (key, expected) => expect(registryKey(key)).toBe(expected));
});

describe('staticCredentials', () => {
  it('looks up by normalised registry', async () => {
    const lookup = staticCredentials({ 'docker.io': { username: 'a', password: 'b' }, 'r:1': undefined });
    expect(await lookup('https://index.docker.io/v1/')).toEqual({ username: 'a', password: 'b' });
    expect(await lookup('r:1')).toBeUndefined();
  });
});
