// Benchmark: the action (dist/index.js, run as the runner runs it) against the plain docker CLI.
// Run through `bash bench/run.sh`, which starts the test bed and exports its variables
// (DOCKER_HOST, REG1, REG1_USER, REG1_PASS, REG2, REG2_USER, REG2_PASS). Plain Node ESM, no build.
//
// Figures only: nothing here asserts a timing. Every publish gets a fresh image (a new random
// layer, built untimed) and a fresh repository, so no blob is already in a registry; the
// contenders of a case alternate, each round starting with the next one.
//
// This file runs the cases BENCH_CASES selects (bench/cases/, one file per case) and writes the
// report; what they share is in bench/lib/ (settings, statistics, processes, the action as the
// runner runs it, the docker CLI, images and registries, rounds, the report).
import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { performance } from 'node:perf_hooks';
import { CONFIG, DIST, OUT_DIR, ROOT, log, scrub } from './lib/config.mjs';
import { bundleIdentity, logsText, machine, markdown, slim } from './lib/report.mjs';
import { failures, findings } from './lib/rounds.mjs';
import case1 from './cases/1-publish.mjs';
import case2 from './cases/2-tag-cost.mjs';
import case3 from './cases/3-publish-big.mjs';
import case4 from './cases/4-cold-start.mjs';
import case5 from './cases/5-publish-text.mjs';
import case6 from './cases/6-reuse-same.mjs';
import case7 from './cases/7-reuse-two.mjs';
import case8 from './cases/8-build-cache.mjs';

/** In the order they run. */
const CASES = [case1, case2, case3, case4, case5, case6, case7, case8];

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
  for (const c of CASES) if (CONFIG.cases.includes(c.id)) report.cases[c.key] = await c.run();
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
  // Rows and sections of the cases that add their own (case 8), after cases 1-7's.
  const extra = { rows: [], sections: [] };
  for (const c of CASES)
    if (report.cases[c.key]) {
      if (c.rows) extra.rows.push(...c.rows(report.cases[c.key]));
      if (c.section) extra.sections.push(c.section(report.cases[c.key]));
    }
  const md = markdown(report, extra);
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
