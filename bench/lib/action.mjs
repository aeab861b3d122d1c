// The action, the way the runner runs it: INPUT_* variables with action.yml's defaults, an event
// payload file, the command files, a fresh HOME and RUNNER_TEMP, and the post step by `post-if`.
import {
  existsSync,
  mkdirSync,
  mkdtempSync,
  readFileSync,
  readdirSync,
  rmSync,
  writeFileSync,
} from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { BED, DIST, ROOT, TIME_BIN, scrub } from './config.mjs';
import { hwmPoller, run } from './proc.mjs';

/** The runner gives every input its action.yml default as INPUT_<NAME>. */
export function actionDefaults() {
  const text = readFileSync(path.join(ROOT, 'action.yml'), 'utf8');
  const defaults = {};
  let inInputs = false;
  let current;
  for (const line of text.split('\n')) {
    if (/^\S/.test(line)) inInputs = line.startsWith('inputs:');
    if (!inInputs) continue;
    const name = /^ {2}([A-Za-z0-9_-]+):\s*$/.exec(line);
    if (name) current = name[1];
    const def = /^ {4}default:\s*(.*)$/.exec(line);
    if (def && current) defaults[current] = def[1].trim().replace(/^(['"])(.*)\1$/, '$2');
  }
  return defaults;
}
export const DEFAULTS = actionDefaults();

export const inputEnv = (name) => `INPUT_${name.replace(/ /g, '_').toUpperCase()}`;

/** GITHUB_OUTPUT / GITHUB_STATE: `name<<delim` blocks and `name=value` lines. */
export function parseCommandFile(file) {
  const out = {};
  if (!existsSync(file)) return out;
  const lines = readFileSync(file, 'utf8').split('\n');
  for (let i = 0; i < lines.length; i++) {
    const m = /^([^=<]+)<<(.+)$/.exec(lines[i]);
    if (m) {
      const value = [];
      for (i++; i < lines.length && lines[i] !== m[2]; i++) value.push(lines[i]);
      out[m[1]] = value.join('\n');
    } else if (lines[i].includes('=')) {
      const at = lines[i].indexOf('=');
      out[lines[i].slice(0, at)] = lines[i].slice(at + 1);
    }
  }
  return out;
}

export const SHA = 'a1b2c3d4e5f60718293a4b5c6d7e8f9012345678';
/** A pull request's head commit (`event: { pr }`). */
export const PR_HEAD_SHA = 'f00dfeed'.repeat(5);

/**
 * A runner's step environment in a fresh directory. The event: a push to main of acme/api, or
 * `event` = { pr: N } for a same-repository pull request N (head `feature`, base main).
 */
export function runnerStep(extraEnv = {}, event = {}) {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'publish-image-bench-run-'));
  const d = (p) => path.join(dir, p);
  for (const p of ['home', 'runner-temp', 'workspace']) mkdirSync(d(p));
  for (const p of ['output', 'state', 'summary.md', 'env', 'path']) writeFileSync(d(p), '');
  const repository = {
    name: 'api',
    full_name: 'acme/api',
    html_url: 'https://github.com/acme/api',
    description: 'benchmark',
    default_branch: 'main',
    license: { spdx_id: 'MIT' },
  };
  const pr = event.pr;
  const payload = pr
    ? {
        action: 'synchronize',
        number: pr,
        repository,
        pull_request: {
          number: pr,
          head: { sha: PR_HEAD_SHA, ref: 'feature', repo: { full_name: 'acme/api' } },
          base: { ref: 'main', repo: { full_name: 'acme/api' } },
        },
      }
    : { ref: 'refs/heads/main', after: SHA, repository };
  writeFileSync(d('event.json'), JSON.stringify(payload));
  const eventEnv = pr
    ? {
        GITHUB_EVENT_NAME: 'pull_request',
        GITHUB_REF: `refs/pull/${pr}/merge`,
        GITHUB_REF_NAME: `${pr}/merge`,
        GITHUB_HEAD_REF: 'feature',
        GITHUB_BASE_REF: 'main',
      }
    : {};
  const env = {
    PATH: process.env.PATH ?? '/usr/bin:/bin',
    HOME: d('home'),
    DOCKER_HOST: BED.dockerHost,
    CI: 'true',
    RUNNER_TEMP: d('runner-temp'),
    RUNNER_OS: 'Linux',
    RUNNER_ARCH: 'X64',
    GITHUB_ACTIONS: 'true',
    GITHUB_WORKSPACE: d('workspace'),
    GITHUB_EVENT_NAME: 'push',
    GITHUB_EVENT_PATH: d('event.json'),
    GITHUB_REF: 'refs/heads/main',
    GITHUB_REF_NAME: 'main',
    GITHUB_REF_TYPE: 'branch',
    GITHUB_SHA: SHA,
    GITHUB_REPOSITORY: 'acme/api',
    GITHUB_REPOSITORY_OWNER: 'acme',
    GITHUB_SERVER_URL: 'https://github.com',
    GITHUB_API_URL: 'https://api.github.com',
    GITHUB_ACTOR: 'octocat',
    GITHUB_WORKFLOW: 'bench',
    GITHUB_JOB: 'publish',
    GITHUB_RUN_ID: '1',
    GITHUB_RUN_NUMBER: '1',
    GITHUB_OUTPUT: d('output'),
    GITHUB_STATE: d('state'),
    GITHUB_STEP_SUMMARY: d('summary.md'),
    GITHUB_ENV: d('env'),
    GITHUB_PATH: d('path'),
    ...eventEnv,
    ...extraEnv,
  };
  return { dir, env, files: { output: d('output'), state: d('state') } };
}

/**
 * Whether the runner starts the post step after a main step that exited with `code`, by
 * action.yml's `post-if` (the benchmark's job is never cancelled, and no earlier step failed).
 */
export const POST_IF =
  /^\s*post-if:\s*(.+?)\s*$/m.exec(readFileSync(path.join(ROOT, 'action.yml'), 'utf8'))?.[1] ?? 'always()';
export function postRuns(code) {
  if (POST_IF === 'always()') return true;
  if (POST_IF === 'cancelled() || failure()') return code !== 0;
  throw new Error(`bench: action.yml has post-if ${POST_IF}, which runAction does not model`);
}

/**
 * One step of the action: main, then post with the saved state, when `post-if` runs it. Times each (spawn to exit);
 * the main step runs under /usr/bin/time for its peak RSS and is polled for node's own VmHWM.
 */
export async function runAction(inputs, { extraEnv = {}, post = true, event = {} } = {}) {
  const step = runnerStep(extraEnv, event);
  const env = { ...step.env };
  for (const [k, v] of Object.entries({ ...DEFAULTS, ...inputs })) env[inputEnv(k)] = v;
  const useTime = existsSync(TIME_BIN);
  const rssFile = path.join(step.dir, 'rss');
  const [cmd, args] = useTime
    ? [TIME_BIN, ['-f', '%M', '-o', rssFile, process.execPath, DIST]]
    : [process.execPath, [DIST]];
  let poller;
  const main = await run(cmd, args, { env, onStart: (pid) => (poller = hwmPoller(pid, useTime)) });
  const nodeHwmKB = poller?.stop() ?? null;
  let timeMaxRssKB = null;
  if (useTime && existsSync(rssFile)) {
    const m = /(\d+)\s*$/.exec(readFileSync(rssFile, 'utf8'));
    if (m) timeMaxRssKB = Number(m[1]);
  }
  const outputs = parseCommandFile(step.files.output);
  let postRun = { code: 0, ms: 0, lines: [] };
  if (post && postRuns(main.code)) {
    const postEnv = { ...env };
    for (const [k, v] of Object.entries(parseCommandFile(step.files.state))) postEnv[`STATE_${k}`] = v;
    postRun = await run(process.execPath, [DIST], { env: postEnv });
  }
  // Whatever the post step left behind (it should remove the credentials directory).
  const leftInRunnerTemp = readdirSync(path.join(step.dir, 'runner-temp'));
  rmSync(step.dir, { recursive: true, force: true });
  return {
    ok: main.code === 0 && postRun.code === 0,
    code: main.code,
    postCode: postRun.code,
    mainMs: main.ms,
    postMs: postRun.ms,
    ms: main.ms + postRun.ms,
    timeMaxRssKB,
    nodeHwmKB,
    outputs,
    leftInRunnerTemp,
    lines: main.lines.map((l) => ({ t: l.t, line: scrub(l.line) })).filter((l) => l.line !== ''),
    postLines: postRun.lines.map((l) => ({ t: l.t, line: scrub(l.line) })).filter((l) => l.line !== ''),
  };
}

export const registryAuth = (regs) =>
  regs
    .map((r) => `- registry: ${r.host}\n  username: ${r.user}\n  password: ${JSON.stringify(r.pass)}`)
    .join('\n');

export function actionInputs(imageId, regs, repo, tags) {
  return {
    images: regs.map((r) => `${r.host}/${repo}`).join('\n'),
    'registry-auth': registryAuth(regs),
    tags: tags.map((t) => `type=raw,value=${t}`).join('\n'),
    // Exactly the listed tags: no `latest` added by the flavor.
    flavor: 'latest=false',
    source: imageId,
    push: 'true',
    'latest-forward-only': 'false',
  };
}
