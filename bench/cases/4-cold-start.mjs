// Case 4: cold start of the bundle on a dry run and of an idle post step, against bare node.
import { existsSync, readdirSync, rmSync, statSync } from 'node:fs';
import * as path from 'node:path';
import { BED, CONFIG, DIST, log, scrub } from '../lib/config.mjs';
import { DEFAULTS, inputEnv, runnerStep } from '../lib/action.mjs';
import { run } from '../lib/proc.mjs';
import { failures, sampleLogs } from '../lib/rounds.mjs';
import { ratio, stats } from '../lib/stats.mjs';

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

export default { id: '4', key: 'coldStart', run: () => caseColdStart(CONFIG.coldRounds) };
