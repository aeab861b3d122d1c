import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import * as path from 'node:path';
import { DockerError } from '../../../src/docker/cli.js';
import { Engine, engineSocket, registryAuthHeader } from '../../../src/docker/engine.js';
import { tempDir } from '../../helpers/tmp.js';

describe('engineSocket: the API is used only where the CLI would reach that same unix socket', () => {
  const withContext = tempDir('engine-cfg');
  writeFileSync(path.join(withContext, 'config.json'), JSON.stringify({ currentContext: 'remote' }));
  const plain = tempDir('engine-cfg');
  it.each([
    ['DOCKER_HOST unix://', { DOCKER_HOST: 'unix:///tmp/x/docker.sock' }, plain, '/tmp/x/docker.sock'],
    ['DOCKER_HOST tcp:// (TLS, remote daemons)', { DOCKER_HOST: 'tcp://10.0.0.1:2376' }, plain, undefined],
    ['DOCKER_HOST ssh://', { DOCKER_HOST: 'ssh://me@host' }, plain, undefined],
    ['DOCKER_CONTEXT chosen', { DOCKER_CONTEXT: 'remote' }, plain, undefined],
    ['a current context in config.json', {}, withContext, undefined],
    ['DOCKER_HOST wins over config.json, as with the CLI', { DOCKER_HOST: 'unix:///s' }, withContext, '/s'],
  ] as const)('%s', (_name, env, configDir, want) => {
    expect(engineSocket(env, configDir)).toBe(want);
  });
});

describe('registryAuthHeader', () => {
  it.each([
    ['alice', 'p+/w?', '127.0.0.1:5000'],
    ['bob', 'ÿÿÿ>>>???', 'https://index.docker.io/v1/'],
  ])('is URL-safe base64 with padding of the JSON (%s)', (username, password, serveraddress) => {
    const h = registryAuthHeader({ username, password, serveraddress });
    expect(h).not.toMatch(/[+/]/);
    expect(h.length % 4).toBe(0);
    const back = Buffer.from(h.replace(/-/g, '+').replace(/_/g, '/'), 'base64').toString('utf8');
    expect(JSON.parse(back)).toEqual({ username, password, serveraddress });
  });
});

describe('Engine on a unix socket', () => {
  const dir = tempDir('engine-sock');
  const socket = path.join(dir, 'd.sock');
  const seen: { method: string; url: string; auth?: string }[] = [];
  const loaded: string[] = [];
  let server: Server;
  /** Each push answer: the stream of messages the daemon sends for a tag. */
  const pushes: Record<string, string[]> = {
    ok: [
      '{"status":"The push refers to repository [r/app]"}',
      '{"status":"Mounted from base","progressDetail":{},"id":"abc"}',
      '{"status":"ok: digest: sha256:' + 'a'.repeat(64) + ' size: 528"}',
      '{"progressDetail":{},"aux":{"Tag":"ok","Digest":"sha256:' + 'a'.repeat(64) + '","Size":528}}',
    ],
    denied: [
      '{"status":"The push refers to repository [r/app]"}',
      '{"errorDetail":{"message":"denied: requested access to the resource is denied"},"error":"denied: requested access to the resource is denied"}',
    ],
  };
  beforeAll(async () => {
    server = createServer((req, res) => {
      seen.push({ method: req.method!, url: req.url!, auth: req.headers['x-registry-auth'] as string });
      const url = new URL(req.url!, 'http://d');
      if (url.pathname === '/images/there/json') return res.end(JSON.stringify({ Id: 'sha256:1', Size: 5 }));
      if (url.pathname.endsWith('/json')) {
        res.statusCode = 404;
        return res.end(JSON.stringify({ message: 'No such image: gone:1' }));
      }
      if (url.pathname.endsWith('/tag')) {
        res.statusCode = 201;
        return res.end();
      }
      if (url.pathname === '/images/load') {
        const parts: Buffer[] = [];
        req.on('data', (c: Buffer) => parts.push(c));
        req.on('end', () => {
          loaded.push(Buffer.concat(parts).toString());
          // The daemon answers 200 and says a failure in the message that follows.
          res.end(
            loaded.at(-1) === 'bad'
              ? '{"errorDetail":{"message":"open /x/layer.tar: no such file"},"error":"open /x/layer.tar: no such file"}\n'
              : '{"stream":"Loaded image: r/app:main\\n"}\n',
          );
        });
        return;
      }
      if (url.pathname.endsWith('/push')) {
        res.write(''); // a 200 at once, then messages, as the daemon streams them
        for (const line of pushes[url.searchParams.get('tag')!]!) res.write(line + '\r\n');
        return res.end();
      }
      res.statusCode = 500;
      return res.end('{"message":"unexpected"}');
    });
    await new Promise<void>((r) => server.listen(socket, r));
  });
  afterAll(() => new Promise<void>((r) => server.close(() => r())));
  const engine = () => new Engine(socket);

  it('inspects an image, and says "No such image" the way the CLI does', async () => {
    expect(await engine().inspect('there')).toEqual({ Id: 'sha256:1', Size: 5 });
    const err = await engine()
      .inspect('gone:1')
      .catch((e: unknown) => e);
    expect(err).toBeInstanceOf(DockerError);
    expect((err as DockerError).stderr).toBe('Error response from daemon: No such image: gone:1');
  });

  it('tags with repo and tag split at the last colon (a registry port stays in the repo)', async () => {
    await engine().tag('sha256:1', '127.0.0.1:5000/acme/app:pr-1');
    const last = new URL(seen[seen.length - 1]!.url, 'http://d');
    expect(last.pathname).toBe('/images/sha256:1/tag');
    expect(last.searchParams.get('repo')).toBe('127.0.0.1:5000/acme/app');
    expect(last.searchParams.get('tag')).toBe('pr-1');
  });

  it.each([
    ['returns the digest and the messages of a push', 'ok', undefined],
    ['throws the error message of a push the registry refused', 'denied', 'denied: requested access'],
  ])('%s', async (_name, tag, error) => {
    const auth = { username: 'u', password: 'p', serveraddress: 'r' };
    const pushed = engine()
      .push(`r/app:${tag}`, auth)
      .catch((e: unknown) => e);
    const got = await pushed;
    expect(seen[seen.length - 1]!.auth).toBe(registryAuthHeader(auth));
    if (error) {
      expect(got).toBeInstanceOf(DockerError);
      expect((got as DockerError).stderr).toContain(error);
    } else {
      expect(got).toEqual({
        digest: `sha256:${'a'.repeat(64)}`,
        output: expect.stringContaining('abc: Mounted from base'),
      });
    }
  });

  it.each([
    ['loads an archive sent as the request body', 'tar-bytes', undefined],
    ["throws the daemon's message when the load failed after a 200", 'bad', 'layer.tar: no such file'],
  ])('%s', async (_name, body, error) => {
    const got = await engine()
      .load(Buffer.from(body))
      .catch((e: unknown) => e);
    expect(loaded.at(-1)).toBe(body);
    expect(new URL(seen.at(-1)!.url, 'http://d').searchParams.get('quiet')).toBe('1');
    if (error) expect((got as DockerError).stderr).toContain(error);
    else expect(got).toBeUndefined();
  });
});
