// The report: the machine, the bundle measured, the table (latest.md), the logs (latest-logs.txt).
import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, readFileSync, readdirSync, statSync } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { DIST, ROOT, TIME_BIN } from './config.mjs';
import { dockerEnv } from './proc.mjs';
import { fmtS, sampleLogs } from './rounds.mjs';
import { ratio } from './stats.mjs';

export function machine() {
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

export const cell = (ms) =>
  ms == null ? 'failed' : ms >= 1000 ? `${(ms / 1000).toFixed(2)} s` : `${Math.round(ms)} ms`;
export const range = (s) => (s.n === 0 ? '–' : `${cell(s.min)}–${cell(s.max)}`);
export const x = (r) => (r == null ? '–' : `${r.toFixed(2)}×`);
export const mib = (kb) => (kb == null ? 'n/a' : `${Math.round(kb / 1024)} MiB`);

export function table(report, extraRows = []) {
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
  rows.push(...extraRows);
  return rows.join('\n');
}

/** `extra`: table rows and sections (markdown) the cases add after the existing ones. */
export function markdown(report, extra = { rows: [], sections: [] }) {
  const m = report.machine;
  const lines = [
    `# publish-image benchmark, ${report.date}`,
    '',
    `Machine: ${m.cpu}, ${m.cores} cores, ${m.memoryGiB} GiB; node ${m.node}; docker ${m.dockerClient} (daemon ${m.dockerServer}, ${m.dockerStorageDriver}); ${m.registry}.`,
    `Load average (1 min) at start / end: ${m.loadAvgAtStart[0]} / ${m.loadAvgAtEnd?.[0]}. Run took ${report.durationS} s.`,
    `Rounds: ${report.config.rounds} (case 1, 2), ${report.config.bigRounds} (case 3), ${report.config.coldRounds} (case 4); contenders alternate; medians of the successful runs.`,
    `Bundle: ${report.bundle.path} and its chunks (${report.bundle.files.map((f) => f.name).join(', ')}), sha256 over all ${report.bundle.sha256.slice(0, 12)}…; ${report.bundle.asCommitted ? `as committed in ${report.bundle.committedIn}` : `NOT as committed (dist/ differs from ${report.bundle.committedIn ?? 'any commit'})`}${report.bundle.changedDuringRun ? ' (it CHANGED during the run: the figures mix two bundles)' : ''}.`,
    '',
    table(report, extra.rows),
    '',
    ...extra.sections.flatMap((t) => [t, '']),
  ];
  if (report.failures.length) {
    lines.push('Failed runs (excluded from the figures):', '');
    for (const f of report.failures)
      lines.push(`- ${f.label}: exit ${f.code}${f.postCode ? `, post exit ${f.postCode}` : ''}`);
    lines.push('');
  }
  return lines.join('\n');
}

export function logsText() {
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
export function slim(obj) {
  return JSON.parse(JSON.stringify(obj, (k, v) => (k === 'lines' || k === 'postLines' ? undefined : v)));
}

export const sha256 = (file) => createHash('sha256').update(readFileSync(file)).digest('hex');

/**
 * The bundle as run: index.js and the chunks ncc split off (every .js of its folder) and the
 * package.json that makes them ES modules, each hashed, and one hash over them all. Whether
 * those bytes are the ones committed comes from git, at run time too.
 */
export function bundleIdentity() {
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
