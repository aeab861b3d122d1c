// Benchmark: the action (dist/index.js, run as the runner runs it) against the plain docker CLI.
// Run through `bash bench/run.sh`, which starts the test bed and exports its variables
// (DOCKER_HOST, REG1, REG1_USER, REG1_PASS, REG2, REG2_USER, REG2_PASS). Plain Node ESM, no build.
//
// Figures only: nothing here asserts a timing. Every publish gets a fresh image (a new random
// layer, built untimed) and a fresh repository, so no blob is already in a registry; the
// contenders of a case alternate, each round starting with the next one.
import { spawn, spawnSync } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import {
  closeSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  openSync,
  readFileSync,
  readdirSync,
  rmSync,
  statSync,
  writeFileSync,
} from 'node:fs';
import * as http from 'node:http';
import * as os from 'node:os';
import * as path from 'node:path';
import { performance } from 'node:perf_hooks';
import { clearInterval, setInterval } from 'node:timers';
import { fileURLToPath } from 'node:url';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const DIST = path.resolve(process.env.BENCH_DIST ?? path.join(ROOT, 'dist/index.js'));
const OUT_DIR = process.env.BENCH_OUT ?? path.join(ROOT, 'bench/results');
const TIME_BIN = '/usr/bin/time';

const int = (name, fallback) => {
  const v = process.env[name];
  if (v === undefined || v === '') return fallback;
  const n = Number(v);
  if (!Number.isInteger(n) || n < 0)
    throw new Error(`${name} must be a whole number, got ${JSON.stringify(v)}`);
  return n;
};

const CONFIG = {
  rounds: int('BENCH_ROUNDS', 5),
  bigRounds: int('BENCH_BIG_ROUNDS', 2),
  coldRounds: int('BENCH_COLD_ROUNDS', 10),
  warmup: int('BENCH_WARMUP', 1),
  smallMiB: int('BENCH_SMALL_MIB', 30),
  bigMiB: int('BENCH_BIG_MIB', 300),
  /** `docker push --all-tags` in case 3 too (adds ~a third to its time). */
  bigAllTags: int('BENCH_BIG_ALLTAGS', 1),
  /** Cases 6 and 7: the base image's size (two layers of text) and the app layer on top. */
  baseMiB: int('BENCH_BASE_MIB', 100),
  appKiB: int('BENCH_APP_KIB', 1024),
  cases: (process.env.BENCH_CASES ?? '1,2,3,4,5,6,7').split(',').map((s) => s.trim()),
};

function need(name) {
  const v = process.env[name];
  if (!v) throw new Error(`${name} is not set: run the benchmark as "bash bench/run.sh"`);
  return v;
}

const BED = {
  dockerHost: need('DOCKER_HOST'),
  regs: [
    { host: need('REG1'), user: need('REG1_USER'), pass: need('REG1_PASS') },
    { host: need('REG2'), user: need('REG2_USER'), pass: need('REG2_PASS') },
  ],
};
const SECRETS = BED.regs.flatMap((r) => [
  r.pass,
  Buffer.from(`${r.user}:${r.pass}`).toString('base64'),
  Buffer.from(r.pass).toString('base64'),
]);

/** Removes anything secret from text that is printed or saved. */
function scrub(text) {
  let out = text
    .split('\n')
    .filter((l) => !l.startsWith('::add-mask::'))
    .join('\n');
  for (const s of SECRETS) out = out.split(s).join('***');
  return out;
}

const log = (msg) => process.stderr.write(`${msg}\n`);

// ---------------------------------------------------------------------------------------------
// Statistics

function quantile(sorted, q) {
  if (sorted.length === 0) return null;
  const pos = (sorted.length - 1) * q;
  const lo = Math.floor(pos);
  const hi = Math.ceil(pos);
  return sorted[lo] + (sorted[hi] - sorted[lo]) * (pos - lo);
}

function stats(values) {
  const v = values.filter((x) => typeof x === 'number' && Number.isFinite(x)).sort((a, b) => a - b);
  if (v.length === 0) return { n: 0, median: null, min: null, max: null, q1: null, q3: null, samples: [] };
  const r = (x) => Math.round(x * 10) / 10;
  return {
    n: v.length,
    median: r(quantile(v, 0.5)),
    min: r(v[0]),
    max: r(v[v.length - 1]),
    q1: r(quantile(v, 0.25)),
    q3: r(quantile(v, 0.75)),
    samples: values.map((x) => (typeof x === 'number' ? r(x) : x)),
  };
}

const ratio = (a, b) => (a == null || b == null || b === 0 ? null : Math.round((a / b) * 100) / 100);

// ---------------------------------------------------------------------------------------------
// Processes

/**
 * Runs a command; resolves with its exit code, output and wall time (spawn to exit).
 * `onStart(pid)` is called once it runs; `input` goes to stdin.
 */
function run(cmd, args, { env = process.env, input, onStart, stdout } = {}) {
  return new Promise((resolve) => {
    const started = performance.now();
    const child = spawn(cmd, args, { env, stdio: ['pipe', stdout ?? 'pipe', 'pipe'] });
    const lines = [];
    const chunks = { out: [], err: [] };
    let rest = '';
    const stamp = (chunk) => {
      const text = rest + chunk.toString('utf8');
      const parts = text.split('\n');
      rest = parts.pop() ?? '';
      const t = Math.round(performance.now() - started);
      for (const p of parts) lines.push({ t, line: p });
    };
    child.stdout?.on('data', (c) => {
      chunks.out.push(c);
      stamp(c);
    });
    child.stderr.on('data', (c) => {
      chunks.err.push(c);
      stamp(c);
    });
    child.stdin.on('error', () => undefined);
    child.stdin.end(input ?? '');
    if (onStart && child.pid) onStart(child.pid);
    child.on('error', (e) => {
      resolve({ code: -1, stdout: '', stderr: String(e), lines, ms: performance.now() - started });
    });
    child.on('close', (code) => {
      const ms = performance.now() - started;
      if (rest) lines.push({ t: Math.round(ms), line: rest });
      resolve({
        code: code ?? -1,
        stdout: Buffer.concat(chunks.out).toString('utf8'),
        stderr: Buffer.concat(chunks.err).toString('utf8'),
        lines,
        ms,
      });
    });
  });
}

/** For untimed helpers: throws on a non-zero exit. */
async function must(cmd, args, opts) {
  const r = await run(cmd, args, opts);
  if (r.code !== 0)
    throw new Error(`${cmd} ${args.join(' ')} failed (${r.code}): ${scrub(r.stderr || r.stdout)}`);
  return r;
}

const dockerEnv = (extra = {}) => ({ ...process.env, DOCKER_HOST: BED.dockerHost, ...extra });
const docker = (args, opts = {}) => run('docker', args, { ...opts, env: opts.env ?? dockerEnv() });

/** The peak VmHWM (kB) of `pid` or, when `pid` is /usr/bin/time, of its child, polled until stop(). */
function hwmPoller(pid, viaTime) {
  let target = viaTime ? undefined : pid;
  let peak = 0;
  const tick = () => {
    try {
      if (!target) {
        const kids = readFileSync(`/proc/${pid}/task/${pid}/children`, 'utf8').trim().split(/\s+/);
        if (kids[0]) target = Number(kids[0]);
        else return;
      }
      const m = /VmHWM:\s+(\d+) kB/.exec(readFileSync(`/proc/${target}/status`, 'utf8'));
      if (m) peak = Math.max(peak, Number(m[1]));
    } catch {
      /* not started yet, or gone */
    }
  };
  const timer = setInterval(tick, 20);
  return {
    stop() {
      clearInterval(timer);
      return peak || null;
    },
  };
}

// ---------------------------------------------------------------------------------------------
// The action, the way the runner runs it

/** The runner gives every input its action.yml default as INPUT_<NAME>. */
function actionDefaults() {
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
const DEFAULTS = actionDefaults();

const inputEnv = (name) => `INPUT_${name.replace(/ /g, '_').toUpperCase()}`;

/** GITHUB_OUTPUT / GITHUB_STATE: `name<<delim` blocks and `name=value` lines. */
function parseCommandFile(file) {
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

const SHA = 'a1b2c3d4e5f60718293a4b5c6d7e8f9012345678';

/** A runner's step environment in a fresh directory (event: push to main of acme/api). */
function runnerStep(extraEnv = {}) {
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
  writeFileSync(d('event.json'), JSON.stringify({ ref: 'refs/heads/main', after: SHA, repository }));
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
    ...extraEnv,
  };
  return { dir, env, files: { output: d('output'), state: d('state') } };
}

/**
 * Whether the runner starts the post step after a main step that exited with `code`, by
 * action.yml's `post-if` (the benchmark's job is never cancelled, and no earlier step failed).
 */
const POST_IF =
  /^\s*post-if:\s*(.+?)\s*$/m.exec(readFileSync(path.join(ROOT, 'action.yml'), 'utf8'))?.[1] ?? 'always()';
function postRuns(code) {
  if (POST_IF === 'always()') return true;
  if (POST_IF === 'cancelled() || failure()') return code !== 0;
  throw new Error(`bench: action.yml has post-if ${POST_IF}, which runAction does not model`);
}

/**
 * One step of the action: main, then post with the saved state, when `post-if` runs it. Times each (spawn to exit);
 * the main step runs under /usr/bin/time for its peak RSS and is polled for node's own VmHWM.
 */
async function runAction(inputs, { extraEnv = {}, post = true } = {}) {
  const step = runnerStep(extraEnv);
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

const registryAuth = (regs) =>
  regs
    .map((r) => `- registry: ${r.host}\n  username: ${r.user}\n  password: ${JSON.stringify(r.pass)}`)
    .join('\n');

function actionInputs(imageId, regs, repo, tags) {
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

// ---------------------------------------------------------------------------------------------
// The plain docker CLI

/**
 * `docker login` per registry (password on stdin, own DOCKER_CONFIG), `docker tag` for every
 * ref, then `docker push` of every ref one after another, or `docker push --all-tags` per
 * repository. Timed from the first login to the last push.
 */
async function runCli(imageId, regs, repo, tags, { allTags = false } = {}) {
  const config = mkdtempSync(path.join(os.tmpdir(), 'publish-image-bench-docker-'));
  const env = dockerEnv({ DOCKER_CONFIG: config });
  const phases = { login: 0, tag: 0, push: 0 };
  const each = { login: [], tag: [], push: [] };
  const failures = [];
  const step = async (phase, args, input) => {
    const r = await docker(args, { env, input });
    phases[phase] += r.ms;
    each[phase].push(r.ms);
    if (r.code !== 0) failures.push(`docker ${args.join(' ')}: exit ${r.code}: ${scrub(r.stderr.trim())}`);
    return r;
  };
  const started = performance.now();
  for (const r of regs)
    await step('login', ['login', '--username', r.user, '--password-stdin', r.host], r.pass);
  for (const r of regs) for (const t of tags) await step('tag', ['tag', imageId, `${r.host}/${repo}:${t}`]);
  if (allTags) for (const r of regs) await step('push', ['push', '--all-tags', `${r.host}/${repo}`]);
  else for (const r of regs) for (const t of tags) await step('push', ['push', `${r.host}/${repo}:${t}`]);
  const ms = performance.now() - started;
  rmSync(config, { recursive: true, force: true });
  return { ok: failures.length === 0, ms, phases, each, failures };
}

// ---------------------------------------------------------------------------------------------
// Images and registries

const WORDS = (
  'error warning info debug request response user session token cache miss hit ' +
  'latency ms bytes payload retry timeout connection open close read write commit rollback'
).split(' ');

/** `bytes` of log-like text, different every time (gzip shrinks it about 3:1). */
function textPayload(bytes) {
  const lines = [];
  let size = 0;
  while (size < bytes) {
    const r = randomBytes(8);
    const line = `${r.readUInt32BE(0)} ${WORDS[r[4] % WORDS.length]} ${WORDS[r[5] % WORDS.length]} id=${r.readUInt16BE(6)} ${WORDS[r[6] % WORDS.length]}\n`;
    lines.push(line);
    size += line.length;
  }
  return Buffer.from(lines.join('')).subarray(0, bytes);
}

/**
 * A new image: FROM scratch + COPY of `mib` MiB (untimed). Returns its id. The payload is read
 * from /dev/urandom (incompressible), or is log-like text when `kind` is 'text'.
 */
async function freshImage(mib, kind = 'random') {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'publish-image-bench-ctx-'));
  const fd = openSync(path.join(dir, 'payload.bin'), 'w');
  try {
    if (kind === 'text') writeFileSync(fd, textPayload(mib * 1024 * 1024));
    else await must('head', ['-c', String(mib * 1024 * 1024), '/dev/urandom'], { stdout: fd });
  } finally {
    closeSync(fd);
  }
  writeFileSync(path.join(dir, 'Dockerfile'), 'FROM scratch\nCOPY payload.bin /payload.bin\n');
  const built = await docker(['build', '-q', dir]);
  rmSync(dir, { recursive: true, force: true });
  if (built.code !== 0) throw new Error(`docker build failed: ${built.stderr}`);
  const id = built.stdout.trim().split('\n').pop() ?? '';
  if (!/^sha256:[0-9a-f]{64}$/.test(id)) throw new Error(`docker build printed no image id: ${built.stdout}`);
  spawnSync('sync'); // the next timed step should not pay for this image's writeback
  return id;
}

async function removeImage(id) {
  await docker(['rmi', '-f', id]);
}

/** Tags a registry holds for a repository (basic auth, our own request). */
function registryTags(reg, repo) {
  return new Promise((resolve) => {
    const req = http.get(
      `http://${reg.host}/v2/${repo}/tags/list`,
      { headers: { authorization: `Basic ${Buffer.from(`${reg.user}:${reg.pass}`).toString('base64')}` } },
      (res) => {
        const chunks = [];
        res.on('data', (c) => chunks.push(c));
        res.on('end', () => {
          if (res.statusCode !== 200) return resolve([]);
          try {
            resolve((JSON.parse(Buffer.concat(chunks).toString('utf8')).tags ?? []).sort());
          } catch {
            resolve([]);
          }
        });
      },
    );
    req.on('error', () => resolve([]));
  });
}

/** Did every registry get exactly the tags? Returns a list of problems (empty: all there). */
async function verify(regs, repo, tags) {
  const problems = [];
  const want = [...tags].sort().join(',');
  for (const r of regs) {
    const got = (await registryTags(r, repo)).join(',');
    if (got !== want) problems.push(`${r.host}/${repo} holds [${got}], expected [${want}]`);
  }
  return problems;
}

// ---------------------------------------------------------------------------------------------
// Cases

const uid = () => randomBytes(3).toString('hex');
const tagList = (n) => Array.from({ length: n }, (_, i) => `t${i + 1}`);
const fmtS = (ms) => (ms == null ? 'n/a' : `${(ms / 1000).toFixed(2)} s`);

/** Action log lines worth reporting: errors, warnings, notices (deduplicated across runs). */
const findings = new Map();
const failures = [];
const sampleLogs = [];

function noteFindings(label, res) {
  for (const l of [...res.lines, ...(res.postLines ?? [])]) {
    if (/^::(error|warning|notice)/.test(l.line)) {
      const key = `${label}: ${l.line.replace(/[0-9a-f]{6}/g, '…')}`.slice(0, 400);
      const f = findings.get(key) ?? { label, line: l.line, count: 0 };
      f.count++;
      findings.set(key, f);
    }
  }
}

/**
 * The contenders of one case, alternating: in round r the order starts at contender r.
 * Each contender gets a fresh image of `mib` MiB and its own repository.
 */
async function alternate(caseId, contenders, rounds, mib, { warmup = 0, kind = 'random', image: make } = {}) {
  const results = Object.fromEntries(contenders.map((c) => [c.key, []]));
  const total = warmup + rounds;
  for (let r = 0; r < total; r++) {
    const isWarmup = r < warmup;
    const order = contenders.map((_, i) => contenders[(i + r) % contenders.length]);
    for (const c of order) {
      const image = make ? await make() : await freshImage(isWarmup ? 1 : mib, kind);
      const repo = `bench/c${caseId}-${c.key.toLowerCase()}-${r}-${uid()}`;
      let res;
      try {
        res = await c.run(image, repo);
        const problems = res.ok
          ? [...(await verify(c.regs, repo, c.tags)), ...((await c.check?.(repo, res)) ?? [])]
          : [];
        if (problems.length) res = { ...res, ok: false, problems };
      } catch (err) {
        res = { ok: false, ms: null, failures: [scrub(String(err))] };
      } finally {
        await removeImage(image);
      }
      const label = `case ${caseId} ${c.key}${isWarmup ? ' (warm-up)' : ` round ${r - warmup + 1}/${rounds}`}`;
      if (res.lines) {
        noteFindings(`case ${caseId} ${c.key}`, res);
        sampleLogs.push({ label, res });
      }
      if (!res.ok) {
        const detail = res.failures ?? res.problems ?? [];
        const errorLines = (res.lines ?? []).filter((l) => /^::error/.test(l.line)).map((l) => l.line);
        failures.push({ label, code: res.code, postCode: res.postCode, detail, errorLines });
      }
      const extra = res.timeMaxRssKB ? `, peak RSS ${Math.round(res.timeMaxRssKB / 1024)} MiB` : '';
      log(`  ${label}: ${fmtS(res.ms)}${res.ok ? '' : ' FAILED'}${extra}`);
      if (!isWarmup) results[c.key].push(res);
    }
  }
  return results;
}

const okMs = (list, f = (r) => r.ms) => list.map((r) => (r.ok ? f(r) : null));

function publishContenders(regs, tags, { allTags = true } = {}) {
  const list = [
    { key: 'action', regs, tags, run: (id, repo) => runAction(actionInputs(id, regs, repo, tags)) },
    { key: 'cli', regs, tags, run: (id, repo) => runCli(id, regs, repo, tags) },
  ];
  if (allTags)
    list.push({
      key: 'cliAllTags',
      regs,
      tags,
      run: (id, repo) => runCli(id, regs, repo, tags, { allTags: true }),
    });
  return list;
}

function summarisePublish(results) {
  const action = stats(okMs(results.action));
  const cli = stats(okMs(results.cli));
  const out = {
    action,
    actionMain: stats(okMs(results.action, (r) => r.mainMs)),
    actionPost: stats(okMs(results.action, (r) => r.postMs)),
    actionPeakRssKB: stats(okMs(results.action, (r) => r.timeMaxRssKB)),
    actionNodeHwmKB: stats(okMs(results.action, (r) => r.nodeHwmKB)),
    actionFailures: results.action.filter((r) => !r.ok).length,
    cli,
    cliPhases: {
      login: stats(okMs(results.cli, (r) => r.phases.login)),
      tag: stats(okMs(results.cli, (r) => r.phases.tag)),
      push: stats(okMs(results.cli, (r) => r.phases.push)),
    },
    ratioActionToCli: ratio(action.median, cli.median),
  };
  if (results.cliAllTags) {
    out.cliAllTags = stats(okMs(results.cliAllTags));
    out.ratioActionToCliAllTags = ratio(action.median, out.cliAllTags.median);
  }
  return out;
}

async function casePublish(caseId, mib, rounds, warmup, allTags, kind = 'random') {
  log(
    `== case ${caseId}: publish a fresh ${mib} MiB image (${kind}) to 2 registries x 4 tags (${rounds} rounds)`,
  );
  const tags = tagList(4);
  const results = await alternate(caseId, publishContenders(BED.regs, tags, { allTags }), rounds, mib, {
    warmup,
    kind,
  });
  return { imageMiB: mib, kind, registries: 2, tags: 4, rounds, ...summarisePublish(results) };
}

async function caseTagCost(rounds) {
  const mib = CONFIG.smallMiB;
  log(`== case 2: cost of an extra tag, 1 vs 8 tags to one registry, ${mib} MiB (${rounds} rounds)`);
  const regs = [BED.regs[0]];
  const one = tagList(1);
  const eight = tagList(8);
  const contenders = [
    { key: 'action1', regs, tags: one, run: (id, repo) => runAction(actionInputs(id, regs, repo, one)) },
    { key: 'cli1', regs, tags: one, run: (id, repo) => runCli(id, regs, repo, one) },
    { key: 'action8', regs, tags: eight, run: (id, repo) => runAction(actionInputs(id, regs, repo, eight)) },
    { key: 'cli8', regs, tags: eight, run: (id, repo) => runCli(id, regs, repo, eight) },
  ];
  const res = await alternate(2, contenders, rounds, mib);
  const s = Object.fromEntries(Object.entries(res).map(([k, v]) => [k, stats(okMs(v))]));
  const perTag = (a, b) =>
    a.median == null || b.median == null ? null : Math.round((b.median - a.median) / 0.7) / 10;
  // Seen directly. The action: every tag is a manifest PUT (8 in flight) once the relay has
  // every blob in every registry ("is in every registry", debug), so from the last such line to
  // the last "Pushed" line, / 8; on the direct path (no relay) from the daemon push's "Pushed"
  // line to the last tag's, / 7. The CLI: `docker tag` + `docker push` of tags 2-8, / 7.
  const direct = {
    action: stats(
      okMs(res.action8, (r) => {
        const pushed = r.lines.filter((l) => l.line.startsWith('Pushed ')).map((l) => l.t);
        if (pushed.length !== 8) return null;
        const settled = r.lines.filter(
          (l) => l.line.includes('relay: sha256:') && l.line.endsWith(' is in every registry'),
        );
        if (settled.length) return (Math.max(...pushed) - Math.max(...settled.map((l) => l.t))) / 8;
        return (Math.max(...pushed) - Math.min(...pushed)) / 7;
      }),
    ),
    cli: stats(
      okMs(res.cli8, (r) => {
        const extra = [...r.each.tag.slice(1), ...r.each.push.slice(1)];
        return extra.reduce((a, b) => a + b, 0) / 7;
      }),
    ),
  };
  const actionPerTag = perTag(s.action1, s.action8);
  const cliPerTag = perTag(s.cli1, s.cli8);
  return {
    imageMiB: mib,
    rounds,
    ...s,
    actionPerExtraTagMs: actionPerTag,
    cliPerExtraTagMs: cliPerTag,
    perExtraTagSeenDirectly: direct,
    ratioPerExtraTag:
      actionPerTag != null && cliPerTag != null && cliPerTag > 0 ? ratio(actionPerTag, cliPerTag) : null,
  };
}

async function caseColdStart(rounds) {
  log(`== case 4: cold start of the bundle on a dry run vs node -e '' (${rounds} rounds)`);
  const samples = { action: [], node: [], post: [] };
  let lastLines = [];
  let failed = 0;
  for (let r = 0; r < rounds + 1; r++) {
    const order = r % 2 ? ['node', 'post', 'action'] : ['action', 'post', 'node'];
    for (const which of order) {
      let ms;
      if (which === 'node') {
        // The same runner-step environment as the action's runs: node's start depends on it.
        const step = runnerStep({ DOCKER_HOST: 'unix:///nonexistent/docker.sock' });
        ms = (await run(process.execPath, ['-e', ''], { env: step.env })).ms;
        rmSync(step.dir, { recursive: true, force: true });
      } else if (which === 'post') {
        // The post step of a run that logged in to nothing: it loads index.js and @actions/core only.
        const step = runnerStep({ DOCKER_HOST: 'unix:///nonexistent/docker.sock', STATE_isPost: 'true' });
        const res = await run(process.execPath, [DIST], { env: step.env });
        rmSync(step.dir, { recursive: true, force: true });
        ms = res.code === 0 ? res.ms : null;
      } else {
        // DOCKER_HOST points nowhere: a dry run that touched docker would fail.
        const step = runnerStep({ DOCKER_HOST: 'unix:///nonexistent/docker.sock' });
        const env = { ...step.env };
        for (const [k, v] of Object.entries(DEFAULTS)) env[inputEnv(k)] = v;
        env[inputEnv('images')] = `${BED.regs[0].host}/acme/api`;
        env[inputEnv('dry-run')] = 'true';
        const res = await run(process.execPath, [DIST], { env });
        rmSync(step.dir, { recursive: true, force: true });
        lastLines = res.lines.map((l) => ({ t: l.t, line: scrub(l.line) }));
        ms = res.code === 0 ? res.ms : null;
        if (res.code !== 0) {
          failed++;
          failures.push({
            label: 'case 4 dry run',
            code: res.code,
            errorLines: lastLines.filter((l) => /^::error/.test(l.line)).map((l) => l.line),
          });
        }
      }
      if (r > 0) samples[which].push(ms); // round 0 warms the page cache
    }
  }
  sampleLogs.push({ label: 'case 4 dry run', res: { lines: lastLines } });
  const bundleBytes = existsSync(DIST) ? statSync(DIST).size : null;
  let distBytes = 0;
  const walk = (d) => {
    for (const n of readdirSync(d)) {
      const p = path.join(d, n);
      const st = statSync(p);
      if (st.isDirectory()) walk(p);
      else distBytes += st.size;
    }
  };
  walk(path.dirname(DIST));
  const action = stats(samples.action);
  const node = stats(samples.node);
  const post = stats(samples.post);
  return {
    rounds,
    action,
    nodeEmpty: node,
    post,
    postOverheadMs:
      post.median != null && node.median != null ? Math.round((post.median - node.median) * 10) / 10 : null,
    overheadMs:
      action.median != null && node.median != null
        ? Math.round((action.median - node.median) * 10) / 10
        : null,
    ratio: ratio(action.median, node.median),
    failed,
    bundleBytes,
    bundleKB: bundleBytes == null ? null : Math.round(bundleBytes / 102.4) / 10,
    distDirBytes: distBytes,
  };
}

// ---------------------------------------------------------------------------------------------
// Cases 6 and 7: an app layer on a base a registry already holds (issue 15)

/** GET a manifest (basic auth, our own request); undefined when missing. */
function registryManifest(reg, repo, ref) {
  return new Promise((resolve) => {
    const req = http.get(
      `http://${reg.host}/v2/${repo}/manifests/${ref}`,
      {
        headers: {
          authorization: `Basic ${Buffer.from(`${reg.user}:${reg.pass}`).toString('base64')}`,
          accept:
            'application/vnd.docker.distribution.manifest.v2+json, application/vnd.oci.image.manifest.v1+json',
        },
      },
      (res) => {
        const chunks = [];
        res.on('data', (c) => chunks.push(c));
        res.on('end', () => {
          try {
            resolve(res.statusCode === 200 ? JSON.parse(Buffer.concat(chunks).toString('utf8')) : undefined);
          } catch {
            resolve(undefined);
          }
        });
      },
    );
    req.on('error', () => resolve(undefined));
  });
}

/**
 * The base (untimed): two layers of log-like text (about 4:1 with gzip), `mib` MiB in all,
 * pushed to the first registry by the docker CLI and kept in the daemon, as on a runner that
 * built or pulled it. Returns its reference and its layer digests in that registry.
 */
async function pushedBase(mib) {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'publish-image-bench-base-'));
  for (const f of ['a.txt', 'b.txt']) writeFileSync(path.join(dir, f), textPayload((mib * 1024 * 1024) / 2));
  writeFileSync(path.join(dir, 'Dockerfile'), 'FROM scratch\nCOPY a.txt /a.txt\nCOPY b.txt /b.txt\n');
  const reg = BED.regs[0];
  const repo = `bench/base-${uid()}`;
  const ref = `${reg.host}/${repo}:1`;
  const config = mkdtempSync(path.join(os.tmpdir(), 'publish-image-bench-docker-'));
  const env = dockerEnv({ DOCKER_CONFIG: config });
  try {
    await must('docker', ['build', '-q', '-t', ref, dir], { env });
    await must('docker', ['login', '--username', reg.user, '--password-stdin', reg.host], {
      env,
      input: reg.pass,
    });
    await must('docker', ['push', ref], { env });
  } finally {
    rmSync(dir, { recursive: true, force: true });
    rmSync(config, { recursive: true, force: true });
  }
  const m = await registryManifest(reg, repo, '1');
  if (!m) throw new Error(`the base ${ref} is not in ${reg.host}`);
  spawnSync('sync');
  return { ref, layers: m.layers.map((l) => l.digest), bytes: m.layers.reduce((n, l) => n + l.size, 0) };
}

/** A new app image (untimed): FROM the base + `kib` KiB of random bytes. */
async function appImage(base, kib) {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'publish-image-bench-app-'));
  writeFileSync(path.join(dir, 'app.bin'), randomBytes(kib * 1024));
  writeFileSync(path.join(dir, 'Dockerfile'), `FROM ${base}\nCOPY app.bin /app.bin\n`);
  const built = await docker(['build', '-q', dir]);
  rmSync(dir, { recursive: true, force: true });
  const id = built.stdout.trim().split('\n').pop() ?? '';
  if (built.code !== 0 || !/^sha256:[0-9a-f]{64}$/.test(id))
    throw new Error(`docker build failed: ${built.stderr}`);
  spawnSync('sync');
  return id;
}

/**
 * Case 6 (one registry, the base's) and case 7 (also a second registry without the base): a PR
 * preview, `pr-1` and `sha-<7>`, of a fresh app layer on the base. The action gets `source` and
 * `base`; the CLI does `login`, `tag` ×2, `push` ×2 per registry. Each run is checked: every
 * registry's manifests list the base's own layer digests first (the action's runs only: the
 * daemon compresses the base again for a registry that lacks it).
 */
async function caseReuse(caseId, regs, rounds) {
  const tags = ['pr-1', `sha-${SHA.slice(0, 7)}`];
  log(
    `== case ${caseId}: PR preview of a ${CONFIG.appKiB} KiB app layer on a ${CONFIG.baseMiB} MiB text base held by ${regs[0].host}, to ${regs.length} registr${regs.length > 1 ? 'ies' : 'y'} x 2 tags (${rounds} rounds)`,
  );
  // Case 7: a new base for every run, so the second registry never holds it (nor does the
  // daemon know it there from an earlier round).
  const freshBase = regs.length > 1;
  let base = await pushedBase(CONFIG.baseMiB);
  let used = false;
  const image = async () => {
    if (freshBase && used) {
      await removeImage(base.ref);
      base = await pushedBase(CONFIG.baseMiB);
    }
    used = true;
    return appImage(base.ref, CONFIG.appKiB);
  };
  const pathsOf = { action: {}, actionNoBase: {} };
  const checkBaseOf = (key) => async (repo, res) => {
    const paths = pathsOf[key];
    const path_ = /Publishing by ([a-z ]+):/.exec(res.lines.map((l) => l.line).join('\n'))?.[1] ?? 'unknown';
    paths[path_] = (paths[path_] ?? 0) + 1;
    const problems = [];
    for (const r of regs)
      for (const t of tags) {
        const m = await registryManifest(r, repo, t);
        const got = (m?.layers ?? []).slice(0, base.layers.length).map((l) => l.digest);
        if (got.join() !== base.layers.join())
          problems.push(`${r.host}/${repo}:${t} does not list the base's layer digests`);
      }
    return problems;
  };
  const inputs = (id, repo) => ({ ...actionInputs(id, regs, repo, tags), base: base.ref });
  const contenders = [
    {
      key: 'action',
      regs,
      tags,
      check: checkBaseOf('action'),
      run: (id, repo) => runAction(inputs(id, repo)),
    },
    { key: 'cli', regs, tags, run: (id, repo) => runCli(id, regs, repo, tags) },
  ];
  // Case 6 also times the action without the `base` input: the daemon names the base the
  // image was built on (before that, this was the export path: every layer compressed and sent).
  if (!freshBase)
    contenders.push({
      key: 'actionNoBase',
      regs,
      tags,
      check: checkBaseOf('actionNoBase'),
      run: (id, repo) => runAction(actionInputs(id, regs, repo, tags)),
    });
  const results = await alternate(caseId, contenders, rounds, 0, { image });
  await removeImage(base.ref);
  const s = summarisePublish(results);
  if (results.actionNoBase) {
    s.actionNoBase = stats(okMs(results.actionNoBase));
    s.ratioActionNoBaseToCli = ratio(s.actionNoBase.median, s.cli.median);
    s.actionNoBasePaths = pathsOf.actionNoBase;
    s.actionNoBaseDigestsKept = `${results.actionNoBase.filter((r) => r.ok).length}/${results.actionNoBase.length}`;
  }
  return {
    baseMiB: CONFIG.baseMiB,
    baseCompressedBytes: base.bytes,
    appKiB: CONFIG.appKiB,
    registries: regs.length,
    tags: tags.length,
    rounds,
    actionPaths: pathsOf.action,
    baseDigestsKept: `${results.action.filter((r) => r.ok).length}/${results.action.length}`,
    ...s,
  };
}

// ---------------------------------------------------------------------------------------------
// Machine, report

function machine() {
  const cpuinfo = readFileSync('/proc/cpuinfo', 'utf8');
  const model = /^model name\s*:\s*(.+)$/m.exec(cpuinfo)?.[1] ?? os.cpus()[0]?.model ?? 'unknown';
  const memKB = Number(/^MemTotal:\s+(\d+)/m.exec(readFileSync('/proc/meminfo', 'utf8'))?.[1] ?? 0);
  const dv = spawnSync('docker', ['version', '--format', '{{.Client.Version}}|{{.Server.Version}}'], {
    env: dockerEnv(),
    encoding: 'utf8',
  });
  const [client, server] = (dv.stdout ?? '').trim().split('|');
  const reg = spawnSync('docker-registry', ['--version'], { encoding: 'utf8' });
  const timeV = existsSync(TIME_BIN) ? spawnSync(TIME_BIN, ['--version'], { encoding: 'utf8' }) : undefined;
  return {
    cpu: model,
    cores: os.availableParallelism ? os.availableParallelism() : os.cpus().length,
    memoryGiB: Math.round((memKB / 1024 / 1024) * 10) / 10,
    kernel: os.release(),
    node: process.version,
    dockerClient: client || null,
    dockerServer: server || null,
    dockerStorageDriver: 'vfs (scripts/env.sh)',
    registry: (reg.stdout || reg.stderr || '').trim().split('\n')[0] || null,
    time: timeV ? (timeV.stdout || timeV.stderr).trim().split('\n')[0] : null,
    loadAvgAtStart: os.loadavg().map((x) => Math.round(x * 100) / 100),
  };
}

const cell = (ms) =>
  ms == null ? 'failed' : ms >= 1000 ? `${(ms / 1000).toFixed(2)} s` : `${Math.round(ms)} ms`;
const range = (s) => (s.n === 0 ? '–' : `${cell(s.min)}–${cell(s.max)}`);
const x = (r) => (r == null ? '–' : `${r.toFixed(2)}×`);
const mib = (kb) => (kb == null ? 'n/a' : `${Math.round(kb / 1024)} MiB`);

function table(report) {
  const rows = [
    '| case | action median | CLI median | ratio action/CLI | spread (min–max): action; CLI |',
    '|---|---|---|---|---|',
  ];
  const c = report.cases;
  const publishRows = (id, p) => {
    const what = `${p.imageMiB} MiB${p.kind === 'text' ? ' of text (compresses)' : ''}, 2 registries × 4 tags`;
    rows.push(
      `| ${id}. ${what} vs CLI login/tag/push ×8 | ${cell(p.action.median)} | ${cell(p.cli.median)} | ${x(p.ratioActionToCli)} | ${range(p.action)}; ${range(p.cli)} (n=${p.action.n}; ${p.cli.n}) |`,
    );
    if (p.cliAllTags)
      rows.push(
        `| ${id}. ${what} vs CLI \`push --all-tags\` ×2 | ${cell(p.action.median)} | ${cell(p.cliAllTags.median)} | ${x(p.ratioActionToCliAllTags)} | ${range(p.action)}; ${range(p.cliAllTags)} (n=${p.action.n}; ${p.cliAllTags.n}) |`,
      );
    rows.push(
      `| ${id}. … action main step only (post step: median ${cell(p.actionPost.median)}) | ${cell(p.actionMain.median)} | | | ${range(p.actionMain)} |`,
    );
    if (p.actionPeakRssKB.n)
      rows.push(
        `| ${id}. … action peak RSS, main step (\`time -f %M\`; node's own VmHWM) | ${mib(p.actionPeakRssKB.median)}; ${mib(p.actionNodeHwmKB.median)} | | | ${mib(p.actionPeakRssKB.min)}–${mib(p.actionPeakRssKB.max)} |`,
      );
  };
  if (c.publish) publishRows(1, c.publish);
  if (c.tagCost) {
    const t = c.tagCost;
    rows.push(
      `| 2. ${t.imageMiB} MiB, 1 registry × 1 tag | ${cell(t.action1.median)} | ${cell(t.cli1.median)} | ${x(ratio(t.action1.median, t.cli1.median))} | ${range(t.action1)}; ${range(t.cli1)} |`,
      `| 2. ${t.imageMiB} MiB, 1 registry × 8 tags | ${cell(t.action8.median)} | ${cell(t.cli8.median)} | ${x(ratio(t.action8.median, t.cli8.median))} | ${range(t.action8)}; ${range(t.cli8)} |`,
      `| 2. each extra tag, (t8 − t1) / 7 | ${cell(t.actionPerExtraTagMs)} | ${cell(t.cliPerExtraTagMs)} | ${x(t.ratioPerExtraTag)} | from the medians above |`,
    );
    const d = t.perExtraTagSeenDirectly;
    rows.push(
      `| 2. each extra tag, seen directly (action: its 8 manifest PUTs once the blobs are in, /8; CLI: \`tag\` + \`push\` of tags 2–8, /7) | ${cell(d.action.median)} | ${cell(d.cli.median)} | ${x(ratio(d.action.median, d.cli.median))} | ${range(d.action)}; ${range(d.cli)} |`,
    );
  }
  if (c.publishBig) publishRows(3, c.publishBig);
  if (c.publishText) publishRows(5, c.publishText);
  const reuseRows = (id, p) => {
    const what = `PR preview: ${p.appKiB} KiB app on a ${p.baseMiB} MiB text base in ${p.registries === 1 ? 'the same registry' : 'registry 1, + registry 2 without it'}, ${p.registries} × 2 tags`;
    rows.push(
      `| ${id}. ${what} vs CLI login/tag ×2/push ×2${p.registries > 1 ? ' per registry' : ''} | ${cell(p.action.median)} | ${cell(p.cli.median)} | ${x(p.ratioActionToCli)} | ${range(p.action)}; ${range(p.cli)} (n=${p.action.n}; ${p.cli.n}) |`,
      `| ${id}. … action main step only (post: ${cell(p.actionPost.median)}); path: ${Object.entries(
        p.actionPaths,
      )
        .map(([k, v]) => `${k} ×${v}`)
        .join(
          ', ',
        )}; base digests kept: ${p.baseDigestsKept} | ${cell(p.actionMain.median)} | | | ${range(p.actionMain)} |`,
    );
  };
  if (c.reuseSame) reuseRows(6, c.reuseSame);
  if (c.reuseSame?.actionNoBase) {
    const p = c.reuseSame;
    const paths = Object.entries(p.actionNoBasePaths)
      .map(([k, v]) => `${k} ×${v}`)
      .join(', ');
    rows.push(
      `| 6. … the action without the \`base\` input (the daemon names the base); path: ${paths}; base digests kept: ${p.actionNoBaseDigestsKept} | ${cell(p.actionNoBase.median)} | ${cell(p.cli.median)} | ${x(p.ratioActionNoBaseToCli)} | ${range(p.actionNoBase)}; ${range(p.cli)} |`,
    );
  }
  if (c.reuseTwo) reuseRows(7, c.reuseTwo);
  if (c.coldStart) {
    const k = c.coldStart;
    rows.push(
      `| 4. cold start, dry run vs \`node -e ''\` (CLI column; goal: within 250 ms) | ${cell(k.action.median)} | ${cell(k.nodeEmpty.median)} | ${x(k.ratio)} | ${range(k.action)}; ${range(k.nodeEmpty)} (+${k.overheadMs} ms) |`,
      `| 4. cold start, post step with nothing to remove vs \`node -e ''\` | ${cell(k.post?.median)} | ${cell(k.nodeEmpty.median)} | ${x(ratio(k.post?.median, k.nodeEmpty.median))} | ${range(k.post ?? {})} (+${k.postOverheadMs} ms) |`,
      `| 4. bundle size, dist/index.js | ${k.bundleBytes} bytes (${k.bundleKB} KB) | | | dist/ in all: ${k.distDirBytes} bytes |`,
    );
  }
  return rows.join('\n');
}

function markdown(report) {
  const m = report.machine;
  const lines = [
    `# publish-image benchmark, ${report.date}`,
    '',
    `Machine: ${m.cpu}, ${m.cores} cores, ${m.memoryGiB} GiB; node ${m.node}; docker ${m.dockerClient} (daemon ${m.dockerServer}, ${m.dockerStorageDriver}); ${m.registry}.`,
    `Load average (1 min) at start / end: ${m.loadAvgAtStart[0]} / ${m.loadAvgAtEnd?.[0]}. Run took ${report.durationS} s.`,
    `Rounds: ${report.config.rounds} (case 1, 2), ${report.config.bigRounds} (case 3), ${report.config.coldRounds} (case 4); contenders alternate; medians of the successful runs.`,
    `Bundle: ${report.bundle.path} and its chunks (${report.bundle.files.map((f) => f.name).join(', ')}), sha256 over all ${report.bundle.sha256.slice(0, 12)}…; ${report.bundle.asCommitted ? `as committed in ${report.bundle.committedIn}` : `NOT as committed (dist/ differs from ${report.bundle.committedIn ?? 'any commit'})`}${report.bundle.changedDuringRun ? ' (it CHANGED during the run: the figures mix two bundles)' : ''}.`,
    '',
    table(report),
    '',
  ];
  if (report.failures.length) {
    lines.push('Failed runs (excluded from the figures):', '');
    for (const f of report.failures)
      lines.push(`- ${f.label}: exit ${f.code}${f.postCode ? `, post exit ${f.postCode}` : ''}`);
    lines.push('');
  }
  return lines.join('\n');
}

function logsText() {
  return sampleLogs
    .map(
      ({ label, res }) =>
        `### ${label}${res.ms != null ? ` (${fmtS(res.ms)}, main ${fmtS(res.mainMs)})` : ''}\n` +
        res.lines.map((l) => `${String(l.t).padStart(6)} ms  ${l.line}`).join('\n') +
        (res.postLines?.length
          ? `\n-- post step\n${res.postLines.map((l) => `${String(l.t).padStart(6)} ms  ${l.line}`).join('\n')}`
          : '') +
        '\n',
    )
    .join('\n');
}

/** Per-run details for the JSON: the bulky log lines stay in latest-logs.txt. */
function slim(obj) {
  return JSON.parse(JSON.stringify(obj, (k, v) => (k === 'lines' || k === 'postLines' ? undefined : v)));
}

const sha256 = (file) => createHash('sha256').update(readFileSync(file)).digest('hex');

/**
 * The bundle as run: index.js and the chunks ncc split off (every .js of its folder) and the
 * package.json that makes them ES modules, each hashed, and one hash over them all. Whether
 * those bytes are the ones committed comes from git, at run time too.
 */
function bundleIdentity() {
  const dir = path.dirname(DIST);
  const files = readdirSync(dir)
    .filter((n) => n.endsWith('.js') || n === 'package.json')
    .sort()
    .map((name) => ({
      name,
      bytes: statSync(path.join(dir, name)).size,
      sha256: sha256(path.join(dir, name)),
    }));
  const all = createHash('sha256');
  for (const f of files) all.update(`${f.name}\0${f.sha256}\n`);
  const git = (args) => spawnSync('git', ['-C', ROOT, ...args], { encoding: 'utf8' });
  const rel = path.relative(ROOT, dir) || '.';
  const commit = git(['log', '-1', '--format=%h', '--', rel]).stdout?.trim() || null;
  const dirty = git(['status', '--porcelain', '--', rel]).stdout?.trim();
  return {
    path: path.relative(ROOT, DIST),
    sha256: all.digest('hex'),
    files,
    committedIn: commit,
    asCommitted: dirty === '' && commit !== null,
  };
}

async function main() {
  if (!existsSync(DIST)) throw new Error(`${DIST} does not exist: run "npm run build" first`);
  const started = performance.now();
  const bundleAtStart = bundleIdentity();
  const report = {
    date: new Date().toISOString(),
    machine: machine(),
    config: CONFIG,
    bundle: bundleAtStart,
    cases: {},
    failures,
    findings: [],
  };
  if (report.machine.loadAvgAtStart[0] > 0.5)
    log(`note: load average ${report.machine.loadAvgAtStart[0]} at the start; other work skews the figures`);
  log(
    `publish-image benchmark: ${report.machine.cpu}, ${report.machine.cores} cores, node ${report.machine.node}, docker ${report.machine.dockerServer}`,
  );
  if (CONFIG.cases.includes('1'))
    report.cases.publish = await casePublish(1, CONFIG.smallMiB, CONFIG.rounds, CONFIG.warmup, true);
  if (CONFIG.cases.includes('2')) report.cases.tagCost = await caseTagCost(CONFIG.rounds);
  if (CONFIG.cases.includes('3'))
    report.cases.publishBig = await casePublish(3, CONFIG.bigMiB, CONFIG.bigRounds, 0, CONFIG.bigAllTags > 0);
  if (CONFIG.cases.includes('4')) report.cases.coldStart = await caseColdStart(CONFIG.coldRounds);
  if (CONFIG.cases.includes('5'))
    report.cases.publishText = await casePublish(5, CONFIG.smallMiB, CONFIG.rounds, 0, false, 'text');
  if (CONFIG.cases.includes('6')) report.cases.reuseSame = await caseReuse(6, [BED.regs[0]], CONFIG.rounds);
  if (CONFIG.cases.includes('7')) report.cases.reuseTwo = await caseReuse(7, BED.regs, CONFIG.rounds);
  report.findings = [...findings.values()];
  report.durationS = Math.round((performance.now() - started) / 1000);
  if (existsSync(DIST) && bundleIdentity().sha256 !== bundleAtStart.sha256) {
    report.bundle.changedDuringRun = true;
    log(
      `note: ${report.bundle.path} changed while the benchmark ran (rebuilt?): the figures mix two bundles`,
    );
  }
  report.machine.loadAvgAtEnd = os.loadavg().map((v) => Math.round(v * 100) / 100);

  mkdirSync(OUT_DIR, { recursive: true });
  writeFileSync(path.join(OUT_DIR, 'latest.json'), JSON.stringify(slim(report), null, 2) + '\n');
  const md = markdown(report);
  writeFileSync(path.join(OUT_DIR, 'latest.md'), md);
  writeFileSync(path.join(OUT_DIR, 'latest-logs.txt'), logsText());

  process.stdout.write(`\n${md}\n`);
  if (report.findings.length) {
    process.stdout.write('The action said (errors, warnings, notices; count over all runs):\n');
    for (const f of report.findings) process.stdout.write(`  ${f.count}× [${f.label}] ${f.line}\n`);
  }
  if (failures.length) {
    process.stdout.write('Failed runs:\n');
    for (const f of failures) {
      process.stdout.write(`  ${f.label}: exit ${f.code}${f.postCode ? `, post exit ${f.postCode}` : ''}\n`);
      for (const l of [...(f.errorLines ?? []), ...(f.detail ?? [])]) process.stdout.write(`    ${l}\n`);
    }
  }
  process.stdout.write(
    `\nWritten: ${path.relative(ROOT, OUT_DIR)}/latest.json, latest.md, latest-logs.txt (${report.durationS} s)\n`,
  );
}

main().catch((err) => {
  process.stderr.write(`bench: ${scrub(err instanceof Error ? (err.stack ?? err.message) : String(err))}\n`);
  process.exit(1);
});
