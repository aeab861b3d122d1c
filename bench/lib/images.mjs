// Images and registries: fresh images (untimed), bases pushed once, what a registry holds.
import { spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { closeSync, mkdtempSync, openSync, rmSync, writeFileSync } from 'node:fs';
import * as http from 'node:http';
import * as os from 'node:os';
import * as path from 'node:path';
import { BED } from './config.mjs';
import { docker, dockerEnv, must } from './proc.mjs';

export const uid = () => randomBytes(3).toString('hex');

export const WORDS = (
  'error warning info debug request response user session token cache miss hit ' +
  'latency ms bytes payload retry timeout connection open close read write commit rollback'
).split(' ');

/** `bytes` of log-like text, different every time (gzip shrinks it about 3:1). */
export function textPayload(bytes) {
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
export async function freshImage(mib, kind = 'random') {
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

export async function removeImage(id) {
  await docker(['rmi', '-f', id]);
}

/** Tags a registry holds for a repository (basic auth, our own request). */
export function registryTags(reg, repo) {
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
export async function verify(regs, repo, tags) {
  const problems = [];
  const want = [...tags].sort().join(',');
  for (const r of regs) {
    const got = (await registryTags(r, repo)).join(',');
    if (got !== want) problems.push(`${r.host}/${repo} holds [${got}], expected [${want}]`);
  }
  return problems;
}

/** A JSON document from a registry path (basic auth, our own request); undefined when missing. */
function registryJson(reg, urlPath, headers = {}) {
  return new Promise((resolve) => {
    const authorization = `Basic ${Buffer.from(`${reg.user}:${reg.pass}`).toString('base64')}`;
    const req = http.get(
      `http://${reg.host}${urlPath}`,
      { headers: { authorization, ...headers } },
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

/** GET a manifest (basic auth, our own request); undefined when missing. */
export function registryManifest(reg, repo, ref) {
  return registryJson(reg, `/v2/${repo}/manifests/${ref}`, {
    accept:
      'application/vnd.docker.distribution.manifest.v2+json, application/vnd.oci.image.manifest.v1+json',
  });
}

/**
 * The base (untimed): two layers of log-like text (about 4:1 with gzip), `mib` MiB in all,
 * pushed to the first registry by the docker CLI and kept in the daemon, as on a runner that
 * built or pulled it. Returns its reference and its layer digests in that registry.
 */
export async function pushedBase(mib) {
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
export async function appImage(base, kib) {
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

/** An image's config (manifest, then its config blob) under a tag; undefined when missing. */
export async function registryConfig(reg, repo, ref) {
  const m = await registryManifest(reg, repo, ref);
  if (!m?.config?.digest) return undefined;
  return registryJson(reg, `/v2/${repo}/blobs/${m.config.digest}`);
}
