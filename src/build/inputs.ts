/**
 * The build's inputs, read and validated before any docker work: the Dockerfile and context,
 * build arguments, and what users bring over from build-push-action (build secrets, ssh, named
 * contexts, hosts, /dev/shm, ulimits). Secret values are masked the moment they are read.
 */
import * as core from '@actions/core';
import { existsSync, statSync } from 'node:fs';
import * as path from 'node:path';
import { InputError } from '../errors.js';
import { bool, listOf } from '../inputlist.js';
import { maskSecret } from '../secrets.js';

/**
 * A build secret as docker takes it, from a file or from a variable of docker's environment,
 * and the input that gave it.
 */
export type BuildSecret =
  | { id: string; input: 'secret-files'; file: string }
  | { id: string; input: 'secrets' | 'secret-envs'; env: string };

export interface BuildInputs {
  platforms: string[];
  context: string;
  file: string;
  buildArgs: string[];
  target: string;
  pull: boolean;
  noCache: boolean;
  cacheFrom: string[];
  /** BuildKit cache exports (`type=…`), where the builder can write them. */
  cacheTo: string[];
  /** The automatic registry cache (input `cache`): read before the build, written after the push. */
  cache: boolean;
  network: string;
  /** `secrets` (values, masked), `secret-files` and `secret-envs`, in that order. */
  secrets: BuildSecret[];
  /**
   * The `secrets` input's values under variable names of our own: docker gets them in its
   * environment (`--secret id=…,env=…`), never on its command line or in a file.
   */
  secretEnv: Record<string, string>;
  /** `--ssh` operands: `default`, `default=<socket>` or `id=<path>[,<path>]`. */
  ssh: string[];
  /** `name=path` or `name=docker-image://ref` (buildx's `--build-context`). */
  buildContexts: string[];
  /** `host:ip`. */
  addHosts: string[];
  shmSize: string;
  /** `type=soft[:hard]`. */
  ulimits: string[];
}

const PLATFORM = /^[a-z0-9]+\/[a-z0-9_]+(\/[a-z0-9]+)?$/;
const ID = /^[A-Za-z0-9_.-]+$/;
const ENV_NAME = /^[A-Za-z_][A-Za-z0-9_]*$/;
const ULIMITS = [
  'core',
  'cpu',
  'data',
  'fsize',
  'locks',
  'memlock',
  'msgqueue',
  'nice',
  'nofile',
  'nproc',
  'rss',
  'rtprio',
  'rttime',
  'sigpending',
  'stack',
];

/** `id=rest` split at the first `=`; `what` names the right side in the error. */
function pair(input: string, line: string, what: string, shown = line): [string, string] {
  const at = line.indexOf('=');
  const id = at > 0 ? line.slice(0, at).trim() : '';
  if (!ID.test(id) || at === line.length - 1)
    throw new InputError(input, shown, `each line must be id=${what} (id of letters, digits, . _ -)`);
  return [id, line.slice(at + 1).trim()];
}

/**
 * `secrets`: `id=value` a line. A value is masked before anything can print it, and a line
 * that does not parse is named by its number, never its text (it may be a bare token).
 */
function readSecretValues(): Pick<BuildInputs, 'secrets' | 'secretEnv'> {
  const secrets: BuildSecret[] = [];
  const secretEnv: Record<string, string> = {};
  for (const [i, line] of listOf(core.getInput('secrets'), false).entries()) {
    const at = line.indexOf('=');
    maskSecret(at > 0 ? line.slice(at + 1).trim() : line);
    const [id, value] = pair('secrets', line, 'value', `line ${i + 1}`);
    const env = `PUBLISH_IMAGE_SECRET_${i}`;
    secrets.push({ id, input: 'secrets', env });
    secretEnv[env] = value;
  }
  return { secrets, secretEnv };
}

function readSecrets(): Pick<BuildInputs, 'secrets' | 'secretEnv'> {
  const { secrets, secretEnv } = readSecretValues();
  for (const line of listOf(core.getInput('secret-files'), false)) {
    const [id, file] = pair('secret-files', line, 'path');
    if (!existsSync(file) || !statSync(file).isFile())
      throw new InputError('secret-files', line, `${file} is not a file`);
    secrets.push({ id, input: 'secret-files', file });
  }
  for (const line of listOf(core.getInput('secret-envs'), false)) {
    const [id, env] = pair('secret-envs', line, 'ENV_NAME');
    if (!ENV_NAME.test(env)) throw new InputError('secret-envs', line, `${env} is not a variable name`);
    const value = process.env[env];
    if (value === undefined)
      throw new InputError('secret-envs', line, `${env} is not set in the step's environment (env:)`);
    maskSecret(value);
    secrets.push({ id, input: 'secret-envs', env });
  }
  const seen = new Set<string>();
  for (const s of secrets) {
    if (seen.has(s.id))
      throw new InputError(
        s.input,
        s.id,
        'gives a secret id twice (across secrets, secret-files and secret-envs)',
      );
    seen.add(s.id);
  }
  return { secrets, secretEnv };
}

/** `ssh`: `default` (the step's SSH_AUTH_SOCK), `default=<socket>` or `id=<key or socket>[,…]`. */
function readSsh(): string[] {
  const out: string[] = [];
  for (const line of listOf(core.getInput('ssh'), false)) {
    if (line === 'default') {
      if (!process.env.SSH_AUTH_SOCK)
        throw new InputError(
          'ssh',
          line,
          'needs an ssh agent: SSH_AUTH_SOCK is not set (start ssh-agent first)',
        );
      out.push(line);
      continue;
    }
    const [, paths] = pair('ssh', line, 'path');
    for (const p of paths.split(','))
      if (!existsSync(p.trim())) throw new InputError('ssh', line, `${p.trim()} does not exist`);
    out.push(line);
  }
  return out;
}

const HOST = /^[A-Za-z0-9]([A-Za-z0-9.-]*[A-Za-z0-9])?$/;
const IP = /^(\d{1,3}(\.\d{1,3}){3}|[0-9a-fA-F:]*:[0-9a-fA-F:.]*|host-gateway)$/;

function readBuildOptions(): Pick<BuildInputs, 'buildContexts' | 'addHosts' | 'shmSize' | 'ulimits'> {
  const buildContexts = listOf(core.getInput('build-contexts'), false);
  for (const c of buildContexts) pair('build-contexts', c, 'path or docker-image://ref');
  const addHosts = listOf(core.getInput('add-hosts')).map((h) => {
    // build-push-action takes host:ip and host=ip; docker takes host:ip.
    const m = /^([^:=]+)[:=](.+)$/.exec(h);
    if (!m || !HOST.test(m[1]!) || !IP.test(m[2]!))
      throw new InputError(
        'add-hosts',
        h,
        'each entry must be host:ip (an IPv4 or IPv6 address, or host-gateway)',
      );
    return `${m[1]}:${m[2]}`;
  });
  const shmSize = core.getInput('shm-size').trim();
  if (shmSize && !/^\d+(\.\d+)?[bkmg]?$/i.test(shmSize))
    throw new InputError('shm-size', shmSize, 'must be a size like 64m or 2g');
  const ulimits = listOf(core.getInput('ulimit'), false);
  for (const u of ulimits) {
    const m = /^([a-z]+)=(-?\d+)(:(-?\d+))?$/.exec(u);
    if (!m || !ULIMITS.includes(m[1]!))
      throw new InputError(
        'ulimit',
        u,
        `each line must be type=soft[:hard], type one of ${ULIMITS.join(', ')}`,
      );
  }
  return { buildContexts, addHosts, shmSize, ulimits };
}

/** What the build takes; the context and Dockerfile must exist only when the step builds. */
export function readBuildInputs(builds: boolean): BuildInputs {
  const fromSecrets = readSecrets();
  const platforms = listOf(core.getInput('platforms'));
  for (const p of platforms)
    if (!PLATFORM.test(p)) throw new InputError('platforms', p, 'each platform must look like linux/amd64');
  const context = core.getInput('context').trim() || '.';
  const fileInput = core.getInput('file').trim();
  const file = fileInput || path.join(context, 'Dockerfile');
  if (builds) {
    if (!existsSync(context) || !statSync(context).isDirectory())
      throw new InputError('context', context, 'is not a directory in the workspace');
    if (!existsSync(file))
      throw new InputError(fileInput ? 'file' : 'context', file, 'has no Dockerfile there');
  }
  const buildArgs = listOf(core.getInput('build-args'), false);
  for (const a of buildArgs)
    if (!/^[A-Za-z_][A-Za-z0-9_]*(=|$)/.test(a))
      throw new InputError('build-args', a, 'each line must be NAME=value');
  return {
    platforms,
    context,
    file,
    buildArgs,
    target: core.getInput('target').trim(),
    pull: bool('pull', false),
    noCache: bool('no-cache', false),
    cacheFrom: listOf(core.getInput('cache-from'), false),
    cacheTo: listOf(core.getInput('cache-to'), false),
    cache: bool('cache', true),
    network: core.getInput('network').trim(),
    ...fromSecrets,
    ssh: readSsh(),
    ...readBuildOptions(),
  };
}

/** Names that say "credential": a value under such a name belongs in `secrets`. */
const CREDENTIAL_NAME = /TOKEN|PASSWORD|PASSWD|SECRET|CREDENTIAL|_KEY$|^KEY$|APIKEY|API_KEY/i;

/**
 * Build arguments that look like credentials, by name or by value (one of the step's masked
 * secrets): build arguments stay in the image's history and in provenance with mode=max.
 * Returns the warnings (names only, never values).
 */
export function credentialBuildArgs(buildArgs: string[], secrets: string[]): string[] {
  const known = new Set(secrets.filter((s) => s.length >= 4));
  const out: string[] = [];
  for (const a of buildArgs) {
    const at = a.indexOf('=');
    const name = at < 0 ? a : a.slice(0, at);
    const value = at < 0 ? (process.env[name] ?? '') : a.slice(at + 1);
    const why = known.has(value)
      ? `carries the value of one of the step's secrets`
      : CREDENTIAL_NAME.test(name)
        ? 'looks like a credential'
        : '';
    if (!why) continue;
    out.push(
      `Build argument ${name} ${why}: build arguments stay in the image's history (docker history) ` +
        `and in its provenance for anyone who can pull it. Pass it in the secrets input ` +
        `(${name}=…) and read it in the Dockerfile with RUN --mount=type=secret,id=${name} instead.`,
    );
  }
  return out;
}
