// The plain docker CLI: login, tag and push, one command after another.
import { mkdtempSync, rmSync } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { performance } from 'node:perf_hooks';
import { scrub } from './config.mjs';
import { docker, dockerEnv } from './proc.mjs';

/**
 * `docker login` per registry (password on stdin, own DOCKER_CONFIG), `docker tag` for every
 * ref, then `docker push` of every ref one after another, or `docker push --all-tags` per
 * repository. Timed from the first login to the last push.
 */
export async function runCli(imageId, regs, repo, tags, { allTags = false } = {}) {
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
