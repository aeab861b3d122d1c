/**
 * The transient registry faults of reliability.test.ts, on the daemon push path
 * (src/engine/daemonpush.ts). The action takes it for an image built on a base that the daemon
 * holds with a registry record (it pulled or pushed it), whose layers start the image's and
 * are all in a registry, when the layers on top are at most a third of the image: the daemon
 * then pushes one tag itself (sending only the new layers) and the action puts every other tag
 * and target from the registry. A fault the daemon does not survive (a failed manifest PUT) must
 * leave the action's export path to finish the job; either way every tag lands, with no error
 * and no secret anywhere.
 */
import { beforeAll, describe, expect, it } from '@jest/globals';
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import * as path from 'node:path';
import { startFaultProxy } from '../helpers/faultproxy.js';
import { tempDir } from '../helpers/tmp.js';
import { errorLines, failedRequests, RETRY_LINE, retryLines, scenarios, served } from './faultscenarios.js';
import { events, expectNoLeak, runAction, secretForms, testBed, type Env } from './harness.js';
import { REGISTRY_KINDS, registryOfKind, type RegistryUnderTest } from './registries.js';

const MiB = 1024 * 1024;

/** Async: the fault proxy runs in this process and must keep answering while docker waits. */
function docker(args: string[], env: Record<string, string>, input = ''): Promise<void> {
  return new Promise((resolve, reject) => {
    const child = spawn('docker', args, { env: { ...process.env, ...env } });
    let said = '';
    child.stdout.on('data', (c: Buffer) => (said += c.toString()));
    child.stderr.on('data', (c: Buffer) => (said += c.toString()));
    child.on('close', (code) => (code === 0 ? resolve() : reject(new Error(`docker ${args[0]}: ${said}`))));
    child.stdin.end(input);
  });
}

/**
 * A base of 3 MiB pushed by the docker CLI through the proxy (so the daemon records it under the
 * proxy's name, the targets' registry), and a context on it that adds `layerBytes`.
 */
async function contextOnDaemonBase(
  host: string,
  reg: RegistryUnderTest,
  layerBytes: number,
): Promise<string> {
  const cfg = tempDir('publish-image-basecfg');
  const env = { DOCKER_CONFIG: cfg };
  await docker(['login', '-u', reg.user, '--password-stdin', host], env, reg.pass);
  const base = `${host}/${reg.repo('dbase')}:1`;
  const baseCtx = tempDir('publish-image-dbase');
  writeFileSync(path.join(baseCtx, 'base.bin'), randomBytes(3 * MiB));
  writeFileSync(path.join(baseCtx, 'Dockerfile'), 'FROM scratch\nCOPY base.bin /base.bin\n');
  await docker(['build', '-q', '-t', base, baseCtx], env);
  await docker(['push', base], env);
  const ctx = tempDir('publish-image-dapp');
  writeFileSync(path.join(ctx, 'app.bin'), randomBytes(layerBytes));
  writeFileSync(path.join(ctx, 'Dockerfile'), `FROM ${base}\nCOPY app.bin /app.bin\n`);
  return ctx;
}

let bed: Env;
beforeAll(() => {
  bed = testBed();
});

describe.each(REGISTRY_KINDS)('transient registry faults on the daemon push path (%s registry)', (kind) => {
  let reg: RegistryUnderTest;
  let secrets: string[];
  beforeAll(() => {
    reg = registryOfKind(bed, kind);
    secrets = secretForms(reg.user, reg.pass);
  });

  it.each(scenarios)(
    'survives $name; every tag lands',
    async (s) => {
      const proxy = await startFaultProxy(reg.host);
      try {
        const context = await contextOnDaemonBase(proxy.host, reg, s.layerBytes ?? 64 * 1024);
        const repoA = reg.repo('drel');
        const repoB = reg.repo('drel');
        const faults = s.faults(repoA, repoB);
        const before = proxy.requests.length;
        for (const f of faults) proxy.addFault(f);
        const tags = ['one', 'two', 'three'];
        const images = [`${proxy.host}/${repoA}`, ...(s.twoRepos ? [`${proxy.host}/${repoB}`] : [])];
        const r = await runAction({
          event: events.branch('main'),
          secrets,
          inputs: {
            images: images.join('\n'),
            registry: proxy.host,
            username: reg.user,
            password: reg.pass,
            tags: tags.map((t) => `type=raw,value=${t}`).join('\n'),
            flavor: 'latest=false',
            context,
            // The path under test: with the cache on, a classic build's labels go through its
            // cache tag first and the tags are put registry to registry (build/relabel.ts).
            cache: 'false',
          },
        });
        if (r.code !== 0 || !r.log.includes('Publishing by daemon push'))
          console.log(`${s.name}:\n${r.log}\nfailed requests: ${JSON.stringify(failedRequests(proxy))}`);
        expect(r.code).toBe(0);
        expect(errorLines(r)).toEqual([]);
        expect(r.log).toContain('Publishing by daemon push');
        // The daemon itself sent something through the proxy during the run: it took the path.
        expect(
          proxy.requests.slice(before).some((q) => q.agent.startsWith('docker/') && q.method !== 'GET'),
        ).toBe(true);
        // Every fault was served (to the daemon or to the action), so every one was survived.
        const want = faults.reduce((n, f) => n + f.times, 0);
        expect(served(proxy, faults)).toHaveLength(want);
        // The action's retries are said each on its own line (the daemon's own are its business).
        for (const line of retryLines(r)) expect(line).toMatch(RETRY_LINE);

        const digest = r.outputs.digest;
        expect(digest).toMatch(/^sha256:[a-f0-9]{64}$/);
        for (const repo of s.twoRepos ? [repoA, repoB] : [repoA]) {
          expect(await reg.probe.tags(repo)).toEqual([...tags].sort());
          for (const t of tags) expect((await reg.probe.manifest(repo, t))?.digest).toBe(digest);
        }
        expect(r.outputs.pushed).toBe('true');
        // The daemon got the credentials in X-Registry-Auth, a value masked before it was sent.
        const xRegistryAuth = Buffer.from(
          JSON.stringify({ username: reg.user, password: reg.pass, serveraddress: proxy.host }),
        )
          .toString('base64')
          .replace(/\+/g, '-')
          .replace(/\//g, '_');
        expect(r.log).toContain(`::add-mask::${xRegistryAuth}`);
        expectNoLeak(r, secrets);
      } finally {
        await proxy.close();
      }
    },
    120_000,
  );
});
