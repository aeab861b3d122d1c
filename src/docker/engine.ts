/**
 * The docker Engine API on the daemon's own unix socket, for the few calls on a publish's
 * critical path (inspect, tag, push): each is one local HTTP request instead of a docker CLI
 * start (30–70 ms on the benchmark's machines), and a push takes its credentials in a request
 * header, so it needs no `docker login` and no config.json on disk.
 *
 * Used only where the CLI would reach that very socket: DOCKER_HOST unset or `unix://`, and no
 * docker context chosen. Anything else (tcp, TLS, ssh, contexts) keeps going through the CLI.
 */
import { existsSync, readFileSync } from 'node:fs';
import { request } from 'node:http';
import * as path from 'node:path';
import { DockerError } from './cli.js';
import { maskSecret } from '../secrets.js';

const DEFAULT_SOCKET = '/var/run/docker.sock';

/** What a push reports: the digest of the tag it pushed and its messages, as the CLI prints them. */
export interface EnginePush {
  digest?: string;
  output: string;
}

/** One message of a push's stream (`progressDetail` while a layer is sent). */
export interface PushMessage {
  status?: string;
  id?: string;
  progressDetail?: { current?: number; total?: number };
  error?: string;
  errorDetail?: { message?: string };
  aux?: { Digest?: string };
}

/** Credentials for one registry, given to the daemon for one push (never written anywhere). */
export interface EngineAuth {
  username: string;
  password: string;
  serveraddress: string;
}

/** The socket the docker CLI would use, when it is a unix socket on this machine. */
export function engineSocket(env: NodeJS.ProcessEnv, configDir: string): string | undefined {
  if (process.platform === 'win32') return undefined;
  const host = env.DOCKER_HOST;
  if (host) return host.startsWith('unix://') ? host.slice('unix://'.length) : undefined;
  if (env.DOCKER_CONTEXT && env.DOCKER_CONTEXT !== 'default') return undefined;
  try {
    const config = JSON.parse(readFileSync(path.join(configDir, 'config.json'), 'utf8')) as {
      currentContext?: string;
    };
    if (config.currentContext && config.currentContext !== 'default') return undefined;
  } catch {
    // No config, or one docker would not read either: the default context.
  }
  return existsSync(DEFAULT_SOCKET) ? DEFAULT_SOCKET : undefined;
}

/** X-Registry-Auth: base64url of the JSON, with padding, as the docker CLI encodes it. */
export function registryAuthHeader(auth: EngineAuth): string {
  const header = Buffer.from(JSON.stringify(auth)).toString('base64').replace(/\+/g, '-').replace(/\//g, '_');
  // It decodes to the password: masked before the request that carries it is sent.
  maskSecret(header);
  return header;
}

/** An image as `GET /images/json` lists it (the fields used here). */
export interface ListedImage {
  Id: string;
  RepoDigests?: string[] | null;
  Size?: number;
}

interface Reply {
  status: number;
  body: Buffer;
}

/** A streamed answer (JSON messages, one a line) that carries a failure says it in a message. */
function throwStreamedError(args: string[], body: Buffer): void {
  for (const line of body.toString('utf8').split('\n')) {
    if (!line.trim()) continue;
    const m = JSON.parse(line) as PushMessage;
    if (m.error !== undefined) throw new DockerError(args, 1, m.errorDetail?.message ?? m.error);
  }
}

export class Engine {
  constructor(readonly socketPath: string) {}

  /** One request, its whole answer; `onData` sees a streamed answer as it comes (a push's). */
  private call(
    method: string,
    url: string,
    headers: Record<string, string> = {},
    onData?: (chunk: Buffer) => void,
    body?: Buffer,
  ): Promise<Reply> {
    return new Promise((resolve, reject) => {
      const req = request({ socketPath: this.socketPath, method, path: url, headers }, (res) => {
        const parts: Buffer[] = [];
        res.on('data', (c: Buffer) => {
          parts.push(c);
          if (res.statusCode === 200) onData?.(c);
        });
        res.on('end', () => resolve({ status: res.statusCode ?? 0, body: Buffer.concat(parts) }));
        res.on('error', reject);
      });
      req.on('error', reject);
      req.end(body);
    });
  }

  /** The daemon's error as the CLI would say it (`Error response from daemon: …`). */
  private fail(args: string[], reply: Reply): never {
    let message = reply.body.toString('utf8').trim();
    try {
      message = (JSON.parse(message) as { message?: string }).message ?? message;
    } catch {
      // not JSON: the text as it is
    }
    throw new DockerError(args, 1, `Error response from daemon: ${message || `HTTP ${reply.status}`}`);
  }

  /** `docker image inspect <ref>`: the daemon's JSON for the image. */
  async inspect(ref: string): Promise<unknown> {
    const reply = await this.call('GET', `/images/${encodeURI(ref)}/json`);
    if (reply.status !== 200) this.fail(['image', 'inspect', ref], reply);
    return JSON.parse(reply.body.toString('utf8')) as unknown;
  }

  /** `docker image ls`: every image's id and the registry records the daemon keeps of it. */
  async images(): Promise<ListedImage[]> {
    const reply = await this.call('GET', '/images/json');
    if (reply.status !== 200) this.fail(['image', 'ls'], reply);
    return JSON.parse(reply.body.toString('utf8')) as ListedImage[];
  }

  /**
   * `docker load` of an archive held in memory (a config alone, see build/labels.ts). The
   * daemon answers 200 and then a JSON message, which carries the error if the load failed.
   */
  async load(tar: Buffer): Promise<void> {
    const headers = { 'Content-Type': 'application/x-tar', 'Content-Length': String(tar.length) };
    const reply = await this.call('POST', '/images/load?quiet=1', headers, undefined, tar);
    if (reply.status !== 200) this.fail(['load'], reply);
    throwStreamedError(['load'], reply.body);
  }

  /** `docker tag <image> <repo>:<tag>`. */
  async tag(image: string, ref: string): Promise<void> {
    const at = ref.lastIndexOf(':');
    const query = new URLSearchParams({ repo: ref.slice(0, at), tag: ref.slice(at + 1) });
    const reply = await this.call('POST', `/images/${encodeURI(image)}/tag?${query}`);
    if (reply.status !== 201 && reply.status !== 200) this.fail(['tag', image, ref], reply);
  }

  /**
   * `docker pull <repo>:<tag>` with the registry's credentials in the request (no login, no
   * config.json). The daemon streams JSON messages; a failure is a message with `error`.
   */
  async pull(ref: string, auth?: EngineAuth): Promise<void> {
    const at = ref.lastIndexOf(':');
    const query = new URLSearchParams({ fromImage: ref.slice(0, at), tag: ref.slice(at + 1) });
    const headers = { 'X-Registry-Auth': auth ? registryAuthHeader(auth) : '' };
    const reply = await this.call('POST', `/images/create?${query}`, headers);
    if (reply.status !== 200) this.fail(['pull', ref], reply);
    throwStreamedError(['pull', ref], reply.body);
  }

  /**
   * `docker push <repo>:<tag>` with the registry's credentials in the request. The daemon
   * answers 200 at once and streams JSON messages, one a line; `onMessage` sees each as it
   * comes (progress), and a failure is a message with `error`.
   */
  async push(ref: string, auth?: EngineAuth, onMessage?: (m: PushMessage) => void): Promise<EnginePush> {
    const at = ref.lastIndexOf(':');
    const query = new URLSearchParams({ tag: ref.slice(at + 1) });
    const headers = { 'X-Registry-Auth': auth ? registryAuthHeader(auth) : '' };
    const url = `/images/${encodeURI(ref.slice(0, at))}/push?${query}`;
    const lines: string[] = [];
    let digest: string | undefined;
    let error: string | undefined;
    let rest = '';
    const take = (text: string) => {
      if (!text.trim()) return;
      const m = JSON.parse(text) as PushMessage;
      if (m.error !== undefined) error ??= m.errorDetail?.message ?? m.error;
      else if (m.aux?.Digest) digest = m.aux.Digest;
      else if (m.status) lines.push(m.id ? `${m.id}: ${m.status}` : m.status);
      onMessage?.(m);
    };
    const reply = await this.call('POST', url, headers, (chunk) => {
      const text = rest + chunk.toString('utf8');
      const parts = text.split('\n');
      rest = parts.pop()!;
      for (const line of parts) take(line);
    });
    if (reply.status !== 200) this.fail(['push', ref], reply);
    take(rest);
    if (error !== undefined) throw new DockerError(['push', ref], 1, error);
    return { digest, output: lines.join('\n') };
  }
}
