// Processes: spawn with timings and stamped output lines, docker on the test bed, peak RSS polling.
import { spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { performance } from 'node:perf_hooks';
import { clearInterval, setInterval } from 'node:timers';
import { BED, scrub } from './config.mjs';

/**
 * Runs a command; resolves with its exit code, output and wall time (spawn to exit).
 * `onStart(pid)` is called once it runs; `input` goes to stdin.
 */
export function run(cmd, args, { env = process.env, input, onStart, stdout } = {}) {
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
export async function must(cmd, args, opts) {
  const r = await run(cmd, args, opts);
  if (r.code !== 0)
    throw new Error(`${cmd} ${args.join(' ')} failed (${r.code}): ${scrub(r.stderr || r.stdout)}`);
  return r;
}

export const dockerEnv = (extra = {}) => ({ ...process.env, DOCKER_HOST: BED.dockerHost, ...extra });
export const docker = (args, opts = {}) => run('docker', args, { ...opts, env: opts.env ?? dockerEnv() });

/** The peak VmHWM (kB) of `pid` or, when `pid` is /usr/bin/time, of its child, polled until stop(). */
export function hwmPoller(pid, viaTime) {
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
