// What every case shares: contenders alternating round by round, the runs' findings, failures
// and logs for the report, and the publish contenders of cases 1, 3 and 5.
import { BED, log, scrub } from './config.mjs';
import { actionInputs, runAction } from './action.mjs';
import { runCli } from './cli.mjs';
import { freshImage, removeImage, uid, verify } from './images.mjs';
import { ratio, stats } from './stats.mjs';

export { uid };
export const tagList = (n) => Array.from({ length: n }, (_, i) => `t${i + 1}`);
export const fmtS = (ms) => (ms == null ? 'n/a' : `${(ms / 1000).toFixed(2)} s`);

/** Action log lines worth reporting: errors, warnings, notices (deduplicated across runs). */
export const findings = new Map();
export const failures = [];
export const sampleLogs = [];

export function noteFindings(label, res) {
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
export async function alternate(
  caseId,
  contenders,
  rounds,
  mib,
  { warmup = 0, kind = 'random', image: make } = {},
) {
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

export const okMs = (list, f = (r) => r.ms) => list.map((r) => (r.ok ? f(r) : null));

export function publishContenders(regs, tags, { allTags = true } = {}) {
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

export function summarisePublish(results) {
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

/** Cases 1, 3 and 5: a fresh image to both registries × 4 tags, the action against the CLI. */
export async function casePublish(caseId, mib, rounds, warmup, allTags, kind = 'random') {
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
