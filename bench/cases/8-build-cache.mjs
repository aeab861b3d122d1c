// Case 8: the build cache across fresh CI jobs (issue 20). A project with its base image in the
// registry, a slow dependency step and a small src/ change: a main job, then a pull request job,
// then main again with nothing changed, each on a fresh daemon (no images, no build cache of
// either builder), the action against the hand-written recipe (login, pull, build --cache-from,
// push ×2), alternating; with the classic builder and with BuildKit, single- and multi-stage.
// The registry sits behind a delay proxy (BENCH_CACHE_DELAY_MS each way per chunk and per new
// connection), for both contenders.
import { mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { performance } from 'node:perf_hooks';
import { BED, int, log, scrub } from '../lib/config.mjs';
import { SHA, runAction } from '../lib/action.mjs';
import { delayProxy } from '../lib/delay-proxy.mjs';
import { registryConfig, registryTags, uid } from '../lib/images.mjs';
import { dockerEnv, must, run } from '../lib/proc.mjs';
import { failures, fmtS, noteFindings, okMs, sampleLogs } from '../lib/rounds.mjs';
import { ratio, stats } from '../lib/stats.mjs';

const ROUNDS = int('BENCH_CACHE_ROUNDS', 3);
const DELAY_MS = int('BENCH_CACHE_DELAY_MS', 20);
const SLOW_S = int('BENCH_CACHE_SLOW_S', 6);
/** Which of classic,buildkit and single,multi to run (all four by default). */
const BUILDERS = (process.env.BENCH_CACHE_BUILDERS ?? 'classic,buildkit').split(',').map((s) => s.trim());
const LAYOUTS = (process.env.BENCH_CACHE_LAYOUTS ?? 'single,multi').split(',').map((s) => s.trim());
const DOCKER_20 = '/usr/bin/docker';
const PR = 42;
/**
 * The jobs of a round; BENCH_CACHE_MORE_MAINS adds that many more main jobs after main again
 * (each reads the entry the one before wrote: a warm build's inline cache must serve too).
 */
const JOBS = [
  'main',
  'pr',
  'mainAgain',
  ...Array.from({ length: int('BENCH_CACHE_MORE_MAINS', 0) }, (_, i) => `mainAgain${i + 2}`),
];
const isMainAgain = (job) => job.startsWith('mainAgain');

/** BuildKit: Debian's docker 20.10 CLI first on PATH, DOCKER_BUILDKIT=1 (as the e2e harness does). */
let bkDir;
function builderEnv(builder) {
  if (builder === 'classic') return {};
  if (!bkDir) {
    bkDir = mkdtempSync(path.join(os.tmpdir(), 'publish-image-bench-buildkit-'));
    symlinkSync(DOCKER_20, path.join(bkDir, 'docker'));
  }
  return { PATH: `${bkDir}:${process.env.PATH ?? '/usr/bin:/bin'}`, DOCKER_BUILDKIT: '1' };
}

/** A hosted runner's daemon (untimed): no image, no build cache of either builder; busybox back. */
async function emptyDaemon(saved) {
  const bk = dockerEnv({ DOCKER_BUILDKIT: '1' });
  await must(DOCKER_20, ['system', 'prune', '-af'], { env: bk });
  await must(DOCKER_20, ['builder', 'prune', '-af'], { env: bk });
  const ids = (await must('docker', ['image', 'ls', '-aq'], { env: dockerEnv() })).stdout.trim();
  if (ids) await must('docker', ['rmi', '-f', ...new Set(ids.split('\n'))], { env: dockerEnv() });
  await must('docker', ['load', '-i', saved], { env: dockerEnv() });
}

/**
 * The project: deps.txt feeds the slow step (npm ci's stand-in, whose uuid shows whether it
 * ran), src/ the fast one. Multi-stage: the slow step, the sources and the build in a builder
 * stage `deps`; the final stage copies its results.
 */
function writeProject(dir, base, layout, src) {
  rmSync(dir, { recursive: true, force: true });
  mkdirSync(path.join(dir, 'src'), { recursive: true });
  writeFileSync(path.join(dir, 'deps.txt'), 'left-pad 1.3.0\n');
  writeFileSync(path.join(dir, 'src', 'app.txt'), src);
  const slow = `RUN sleep ${SLOW_S} && cat /proc/sys/kernel/random/uuid > /deps.stamp`;
  const lines =
    layout === 'multi'
      ? [
          // A build stage as Node or Go projects have one: dependencies, then the sources and
          // the build; the final stage copies only what the build made. BuildKit's inline cache
          // (the final image's layers) holds nothing of this stage.
          `FROM ${base} AS deps`,
          'COPY deps.txt /deps.txt',
          slow,
          'COPY src/ /src/',
          'RUN busybox wc -c /src/app.txt > /build.txt',
          `FROM ${base}`,
          'COPY --from=deps /deps.stamp /deps.stamp',
          'COPY --from=deps /build.txt /build.txt',
        ]
      : [
          `FROM ${base}`,
          'COPY deps.txt /deps.txt',
          slow,
          'COPY src/ /src/',
          'RUN busybox wc -c /src/app.txt > /build.txt',
        ];
  writeFileSync(path.join(dir, 'Dockerfile'), lines.join('\n') + '\n');
}

/** The layer that holds /deps.stamp: base, COPY deps.txt, RUN (single); base, COPY --from (multi). */
const stampIndex = (layout) => (layout === 'multi' ? 1 : 2);

const jobTag = (job) => (job === 'pr' ? `pr-${PR}` : 'main');

/**
 * The hand-written recipe (Docker's CI docs, as users write it), timed from the login to the
 * last push: login; pull the cache image(s) (`|| true`); build --cache-from, -t ×2; push ×2.
 * BuildKit adds --build-arg BUILDKIT_INLINE_CACHE=1 (else --cache-from reads nothing). Only the
 * final image is cached: a multi-stage build's builder stage is not.
 */
async function runRecipe(builder, reg, repo, job, ctx) {
  const config = mkdtempSync(path.join(os.tmpdir(), 'publish-image-bench-docker-'));
  const env = dockerEnv({ DOCKER_CONFIG: config, ...builderEnv(builder) });
  const cmd = builder === 'classic' ? 'docker' : DOCKER_20;
  const image = `${reg.host}/${repo}`;
  // GITHUB_SHA, as the action's default sha- tag takes it (the merge commit on a pull request).
  const sha = SHA.slice(0, 7);
  const tags = [`${image}:${jobTag(job)}`, `${image}:sha-${sha}`];
  const cacheFrom = job === 'pr' ? [`${image}:pr-${PR}`, `${image}:main`] : [`${image}:main`];
  const phases = { login: 0, pull: 0, build: 0, push: 0 };
  const lines = [];
  const failuresOf = [];
  const started = performance.now();
  const step = async (phase, args, { input, okToFail = false } = {}) => {
    const at = performance.now() - started;
    lines.push({ t: Math.round(at), line: `$ docker ${args.join(' ')}` });
    const r = await run(cmd, args, { env, input });
    phases[phase] += r.ms;
    for (const l of r.lines) if (l.line) lines.push({ t: Math.round(at + l.t), line: scrub(l.line) });
    if (r.code !== 0 && !okToFail)
      failuresOf.push(`docker ${args.join(' ')}: exit ${r.code}: ${scrub(r.stderr.trim()).slice(-400)}`);
    return r;
  };
  await step('login', ['login', '--username', reg.user, '--password-stdin', reg.host], { input: reg.pass });
  // `docker pull a || docker pull b || true`
  for (const ref of cacheFrom)
    if ((await step('pull', ['pull', '-q', ref], { okToFail: true })).code === 0) break;
  await step('build', [
    'build',
    ...(builder === 'buildkit' ? ['--progress=plain', '--build-arg', 'BUILDKIT_INLINE_CACHE=1'] : []),
    ...cacheFrom.flatMap((c) => ['--cache-from', c]),
    ...tags.flatMap((t) => ['-t', t]),
    ctx,
  ]);
  for (const t of tags) await step('push', ['push', t]);
  const ms = performance.now() - started;
  rmSync(config, { recursive: true, force: true });
  return { ok: failuresOf.length === 0, ms, mainMs: ms, phases, lines, failures: failuresOf };
}

/** The action, as the runner runs it, on the push to main or the pull request; cache defaults on. */
function runActionJob(builder, reg, repo, job, ctx) {
  return runAction(
    {
      images: `${reg.host}/${repo}`,
      'registry-auth': `- registry: ${reg.host}\n  username: ${reg.user}\n  password: ${JSON.stringify(reg.pass)}`,
      context: ctx,
    },
    {
      event: job === 'pr' ? { pr: PR } : {},
      // No GitHub API here: nothing leaves 127.0.0.1.
      extraEnv: { ...builderEnv(builder), GITHUB_API_URL: 'http://127.0.0.1:9' },
    },
  );
}

/** "N of M RUN/COPY/ADD steps of X came from the cache" lines of an action run. */
const cacheLines = (res) =>
  (res.lines ?? [])
    .map((l) => l.line)
    .filter((l) => /RUN\/COPY\/ADD steps of .* came from the cache/.test(l));

/** One variant (builder × layout): rounds of the action and the recipe, alternating. */
async function variant(builder, layout, proxied, base, saved) {
  const name = `${builder} ${layout}-stage`;
  log(`== case 8: build cache across fresh jobs, ${name} (${ROUNDS} rounds)`);
  const contenders = [
    { key: 'action', run: runActionJob },
    { key: 'recipe', run: runRecipe },
  ];
  const results = { action: [], recipe: [] };
  for (let r = 0; r < ROUNDS; r++) {
    const order = contenders.map((_, i) => contenders[(i + r) % contenders.length]);
    for (const c of order) {
      const repo = `bench/c8-${builder}-${layout}-${c.key}-${r}-${uid()}`;
      const ctx = mkdtempSync(path.join(os.tmpdir(), 'publish-image-bench-c8-'));
      const round = { ok: true, jobs: {} };
      let firstStamp;
      for (const job of JOBS) {
        writeProject(ctx, base, layout, job === 'pr' ? 'v2\n' : 'v1\n');
        await emptyDaemon(saved);
        let res;
        try {
          res = await c.run(builder, proxied, repo, job, ctx);
        } catch (err) {
          res = { ok: false, ms: null, failures: [scrub(String(err))] };
        }
        // Untimed checks, on the registry directly: the tags, and the layer holding /deps.stamp.
        const tags = await registryTags(BED.regs[0], repo);
        const problems = [];
        if (res.ok && !tags.includes(jobTag(job))) problems.push(`${repo} lacks ${jobTag(job)}: [${tags}]`);
        const cfg = res.ok ? await registryConfig(BED.regs[0], repo, jobTag(job)) : undefined;
        const stamp = cfg?.rootfs?.diff_ids?.[stampIndex(layout)];
        if (res.ok && !stamp) problems.push(`${repo}:${jobTag(job)} has no layer ${stampIndex(layout)}`);
        if (problems.length) res = { ...res, ok: false, problems };
        if (job === 'main') firstStamp = stamp;
        const slowReRan = job === 'main' ? null : stamp && firstStamp ? stamp !== firstStamp : null;
        const label = `case 8 ${name} ${c.key} ${job} round ${r + 1}/${ROUNDS}`;
        if (res.lines) {
          if (c.key === 'action') noteFindings(`case 8 ${name} ${c.key}`, res);
          sampleLogs.push({ label, res });
        }
        if (!res.ok) {
          round.ok = false;
          failures.push({
            label,
            code: res.code,
            postCode: res.postCode,
            detail: res.failures ?? res.problems ?? [],
            errorLines: (res.lines ?? []).filter((l) => /^::error/.test(l.line)).map((l) => l.line),
          });
        }
        round.jobs[job] = {
          ok: res.ok,
          ms: res.ms,
          mainMs: res.mainMs,
          postMs: res.postMs,
          phases: res.phases,
          slowReRan,
          cacheLines: c.key === 'action' ? cacheLines(res) : undefined,
          tags,
        };
        log(
          `  ${label}: ${fmtS(res.ms)}${res.ok ? '' : ' FAILED'}${slowReRan === null ? '' : slowReRan ? ', slow step RE-RAN' : ', slow step cached'}`,
        );
      }
      rmSync(ctx, { recursive: true, force: true });
      results[c.key].push(round);
    }
  }
  const perJob = (key) =>
    Object.fromEntries(
      JOBS.map((job) => {
        const list = results[key].map((round) => round.jobs[job]);
        const runs = list.filter((j) => j.ok && j.slowReRan !== null);
        return [
          job,
          {
            ...stats(okMs(list)),
            slowStepReRuns:
              job === 'main' ? null : `${runs.filter((j) => j.slowReRan).length}/${runs.length}`,
            phases:
              key === 'recipe'
                ? Object.fromEntries(
                    ['login', 'pull', 'build', 'push'].map((p) => [
                      p,
                      stats(okMs(list, (j) => j.phases[p])).median,
                    ]),
                  )
                : undefined,
            cacheLines: key === 'action' ? [...new Set(list.flatMap((j) => j.cacheLines ?? []))] : undefined,
          },
        ];
      }),
    );
  const action = perJob('action');
  const recipe = perJob('recipe');
  const prRatio = ratio(action.pr.median, recipe.pr.median);
  const reRunsAfterFirst = JOBS.slice(1).every((j) => /^0\//.test(action[j].slowStepReRuns ?? ''));
  // Main after main: every RUN/COPY/ADD step of every stage and the image from the cache.
  const again = JOBS.filter(isMainAgain).flatMap((j) => action[j].cacheLines);
  const nothingReRan = again.every((l) => {
    const m = /(\d+) of (\d+) RUN/.exec(l);
    return m && m[1] === m[2];
  });
  return {
    builder,
    layout,
    rounds: ROUNDS,
    action,
    recipe,
    ratioPr: prRatio,
    ratioMain: ratio(action.main.median, recipe.main.median),
    ratioMainAgain: ratio(action.mainAgain.median, recipe.mainAgain.median),
    goals: {
      slowStepCachedAfterFirstJob: reRunsAfterFirst,
      prWithinGoal: prRatio == null ? null : prRatio <= (layout === 'multi' ? 0.5 : 1.0),
      prGoal: layout === 'multi' ? '≤ 0.5× the recipe' : '≤ 1.0× the recipe',
      mainAgainReRunsNothing: again.length > 0 && nothingReRan,
    },
    rawRounds: results,
  };
}

async function caseBuildCache() {
  const reg = BED.regs[0];
  const proxy = await delayProxy(reg.host, { delayMs: DELAY_MS });
  const proxied = { ...reg, host: proxy.host };
  const work = mkdtempSync(path.join(os.tmpdir(), 'publish-image-bench-c8-setup-'));
  const saved = path.join(work, 'busybox.tar');
  try {
    // Untimed: local/busybox saved (every fresh daemon gets it back), and pushed once as the
    // project's base image; the Dockerfile names it through the proxy.
    await must('docker', ['save', '-o', saved, 'local/busybox:latest'], { env: dockerEnv() });
    const config = path.join(work, 'docker');
    const env = dockerEnv({ DOCKER_CONFIG: config });
    await must('docker', ['login', '--username', reg.user, '--password-stdin', reg.host], {
      env,
      input: reg.pass,
    });
    const baseRepo = `bench/c8-base-${uid()}`;
    await must('docker', ['tag', 'local/busybox:latest', `${reg.host}/${baseRepo}:1`], { env });
    await must('docker', ['push', `${reg.host}/${baseRepo}:1`], { env });
    const base = `${proxy.host}/${baseRepo}:1`;
    const variants = {};
    for (const builder of BUILDERS)
      for (const layout of LAYOUTS)
        variants[`${builder}-${layout}`] = await variant(builder, layout, proxied, base, saved);
    return {
      rounds: ROUNDS,
      delayMs: DELAY_MS,
      slowStepS: SLOW_S,
      proxy: { ...proxy.counts },
      variants,
    };
  } finally {
    await proxy.close();
    await emptyDaemon(saved).catch(() => undefined);
    rmSync(work, { recursive: true, force: true });
    if (bkDir) rmSync(bkDir, { recursive: true, force: true });
  }
}

const cell = (ms) =>
  ms == null ? 'failed' : ms >= 1000 ? `${(ms / 1000).toFixed(2)} s` : `${Math.round(ms)} ms`;
const range = (s) => (s.n === 0 ? '–' : `${cell(s.min)}–${cell(s.max)}`);
const x = (r) => (r == null ? '–' : `${r.toFixed(2)}×`);

/** Rows for the report's table (the CLI column holds the recipe). */
function rows(res) {
  const out = [];
  for (const v of Object.values(res.variants)) {
    const what = `8. build cache, ${v.builder === 'classic' ? 'classic builder' : 'BuildKit'}, ${v.layout}-stage, fresh daemon per job, registry +${res.delayMs} ms`;
    const job = (j, label) =>
      out.push(
        `| ${what}: ${label}; slow step re-ran: action ${v.action[j].slowStepReRuns ?? '–'}, recipe ${v.recipe[j].slowStepReRuns ?? '–'} | ${cell(v.action[j].median)} | ${cell(v.recipe[j].median)} | ${x(ratio(v.action[j].median, v.recipe[j].median))} | ${range(v.action[j])}; ${range(v.recipe[j])} (n=${v.action[j].n}; ${v.recipe[j].n}) |`,
      );
    job('main', 'main job (cold, no cache yet) vs recipe');
    job('pr', `pull request job (src/ changed) vs recipe (goal ${v.goals.prGoal})`);
    job('mainAgain', 'main job again, nothing changed, vs recipe');
    for (const j of JOBS.filter((k) => isMainAgain(k) && k !== 'mainAgain'))
      job(j, `main job no. ${Number(j.slice('mainAgain'.length)) + 1} in a row, nothing changed, vs recipe`);
  }
  return out;
}

/** A section under the table: the goals, and what the action's log says about its cache. */
function section(res) {
  const yes = (b) => (b == null ? 'n/a' : b ? 'met' : 'NOT met');
  const out = [
    `Case 8 (build cache across fresh jobs; ${res.rounds} rounds, slow step ${res.slowStepS} s, registry behind a ${res.delayMs} ms delay proxy):`,
    '',
  ];
  for (const v of Object.values(res.variants)) {
    const r = v.recipe;
    out.push(
      `- ${v.builder} ${v.layout}-stage: slow step cached in every job after the first: ${yes(v.goals.slowStepCachedAfterFirstJob)}; pull request ${x(v.ratioPr)} the recipe (goal ${v.goals.prGoal}): ${yes(v.goals.prWithinGoal)}; main after main re-runs nothing: ${yes(v.goals.mainAgainReRunsNothing)}. Recipe phases (median, PR job): login ${cell(r.pr.phases.login)}, pull ${cell(r.pr.phases.pull)}, build ${cell(r.pr.phases.build)}, push ${cell(r.pr.phases.push)}. Action's log: PR ${v.action.pr.cacheLines.join('; ') || '–'}; main again ${v.action.mainAgain.cacheLines.join('; ') || '–'}.`,
    );
  }
  return out.join('\n');
}

export default { id: '8', key: 'buildCache', run: caseBuildCache, rows, section };
