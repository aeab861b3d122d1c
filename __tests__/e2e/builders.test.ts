/**
 * The builders on the real daemon: BuildKit (Debian's docker 20.10 CLI with DOCKER_BUILDKIT=1)
 * with build secrets, ssh and cache mounts; the classic builder refusing what only BuildKit can
 * do before it builds anything; credential-looking build arguments; the build options users
 * bring from build-push-action.
 */
import { describe, expect, it, beforeAll } from '@jest/globals';
import { execFileSync } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { chmodSync, writeFileSync } from 'node:fs';
import * as path from 'node:path';
import { gunzipSync } from 'node:zlib';
import {
  NODE24,
  RegistryProbe,
  buildKitEnv,
  events,
  expectNoLeak,
  makeContext,
  reg1Inputs,
  runAction,
  secretForms,
  testBed,
  visibleLog,
  type Env,
} from './harness.js';
import { tempDir } from '../helpers/tmp.js';

let bed: Env;
let probe: RegistryProbe;
const sha256 = (s: string) => createHash('sha256').update(s).digest('hex');
const repoName = () => `builders/r${randomBytes(4).toString('hex')}`;
/** The classic builder: the docker CLI first on PATH (28.x, no buildx), DOCKER_BUILDKIT unset. */
const classic = () => ({ PATH: process.env.PATH ?? '/usr/bin:/bin' });

beforeAll(() => {
  bed = testBed();
  probe = new RegistryProbe(bed.reg1, bed.reg1User, bed.reg1Pass);
});

function publish(
  repo: string,
  inputs: Record<string, string>,
  env: Record<string, string>,
  secrets: string[] = [],
) {
  return runAction({
    event: events.tag('v1.2.3'),
    env,
    secrets: [...secretForms(bed.reg1User, bed.reg1Pass), ...secrets],
    inputs: {
      ...reg1Inputs(bed, repo),
      ...inputs,
    },
  });
}

/** Every blob of the pushed image (and its attestations) as text: layers unpacked, JSON as is. */
async function everyBlob(repo: string, tag: string): Promise<{ name: string; text: string }[]> {
  const out: { name: string; text: string }[] = [];
  const visit = async (ref: string): Promise<void> => {
    const m = (await probe.manifest(repo, ref))!;
    out.push({ name: `manifest ${ref}`, text: JSON.stringify(m.body) });
    for (const child of m.body.manifests ?? []) await visit(child.digest);
    const blobs = [...(m.body.config ? [m.body.config] : []), ...(m.body.layers ?? [])];
    for (const b of blobs) {
      const raw = await probe.blob(repo, b.digest);
      const text = (/gzip/.test(b.mediaType) ? gunzipSync(raw) : raw).toString('latin1');
      out.push({ name: `${b.mediaType} ${b.digest}`, text });
    }
  };
  await visit(tag);
  return out;
}

/** A nonce for a RUN step: no earlier run's cached layer can stand in for it. */
const fresh = () => randomBytes(6).toString('hex');
const errorLines = (log: string) => log.split('\n').filter((l) => l.startsWith('::error::'));

describe('BuildKit (docker 20.10 with DOCKER_BUILDKIT=1)', () => {
  it('hands each build secret (secrets, secret-files, secret-envs) to RUN --mount=type=secret and leaves it nowhere else', async () => {
    const [s1, s2, s3] = [1, 2, 3].map(() => `bksecret-${randomBytes(12).toString('hex')}`);
    const dir = tempDir('publish-image-secretfile');
    const file = path.join(dir, 'pypi-token');
    writeFileSync(file, s2);
    chmodSync(file, 0o600);
    // BuildKit's cache does not key a RUN on its secrets' values: a nonce in each step keeps an
    // earlier run's layers (with other secrets) out.
    const nonce = randomBytes(6).toString('hex');
    const context = makeContext(
      512,
      [
        'FROM local/busybox:latest',
        'ARG PLAIN=1',
        `RUN --mount=type=secret,id=npm echo ${nonce} && busybox sha256sum /run/secrets/npm > /npm.sha`,
        `RUN --mount=type=secret,id=pypi echo ${nonce} && busybox sha256sum /run/secrets/pypi > /pypi.sha`,
        `RUN --mount=type=secret,id=gh,required=true echo ${nonce} && busybox sha256sum /run/secrets/gh > /gh.sha`,
        'COPY payload.bin /payload.bin',
      ].join('\n') + '\n',
    );
    const repo = repoName();
    const r = await publish(
      repo,
      {
        context,
        secrets: `npm=${s1}`,
        'secret-files': `pypi=${file}`,
        'secret-envs': 'gh=MY_GH_TOKEN',
        'build-args': 'PLAIN=2',
        provenance: 'mode=max',
      },
      { ...buildKitEnv(), MY_GH_TOKEN: s3 },
      [s1, s2, s3],
    );
    expect(r.code).toBe(0);
    expect(r.log).toMatch(/Builder: BuildKit, run by docker 20\.10\.\d+ itself \(DOCKER_BUILDKIT=1/);
    const blobs = await everyBlob(repo, '1.2.3');
    const all = blobs.map((b) => b.text).join('\n');
    // Each RUN read its secret: the hash of exactly that value is in a layer.
    expect(all).toContain(`${sha256(s1)}  /run/secrets/npm`);
    expect(all).toContain(`${sha256(s2)}  /run/secrets/pypi`);
    expect(all).toContain(`${sha256(s3)}  /run/secrets/gh`);
    // ...and the value is in no layer, config, history, manifest or provenance statement.
    expect(blobs.some((b) => /in-toto/.test(b.text))).toBe(true); // the statement was read
    for (const s of [s1, s2, s3])
      expect(blobs.filter((b) => b.text.includes(s)).map((b) => b.name)).toEqual([]);
    // docker build is the one child that needs the values, in its environment (the secrets
    // input under a name of ours, the secret-envs variable); no other child gets either.
    const allowed = ['PUBLISH_IMAGE_SECRET_0', 'MY_GH_TOKEN'];
    const builds = r.children.filter((c) => c.program === 'docker' && c.argv.includes('build'));
    expect(builds.length).toBeGreaterThan(0);
    for (const b of builds) expect([b.env.PUBLISH_IMAGE_SECRET_0, b.env.MY_GH_TOKEN]).toEqual([s1, s3]);
    const withoutThose = r.children.map((c) =>
      builds.includes(c)
        ? { ...c, env: Object.fromEntries(Object.entries(c.env).filter(([k]) => !allowed.includes(k))) }
        : c,
    );
    expectNoLeak({ ...r, children: withoutThose }, [s1, s2, s3]);
  });

  it('builds and publishes a Dockerfile with RUN --mount=type=cache and RUN --mount=type=ssh', async () => {
    const dir = tempDir('publish-image-sshkey');
    const key = path.join(dir, 'deploy_key');
    execFileSync('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-f', key]);
    const context = makeContext(
      256,
      [
        'FROM local/busybox:latest',
        `RUN --mount=type=cache,target=/cache echo ${fresh()} && echo warm > /cache/x && busybox wc -c /cache/x > /cached`,
        `RUN --mount=type=ssh,id=deploy echo ${fresh()} && busybox test -S "$SSH_AUTH_SOCK" && echo agent > /ssh`,
        'COPY payload.bin /payload.bin',
      ].join('\n') + '\n',
    );
    const repo = repoName();
    const r = await publish(repo, { context, ssh: `deploy=${key}` }, buildKitEnv());
    expect(r.code).toBe(0);
    expect(await probe.tags(repo)).toContain('1.2.3');
    const all = (await everyBlob(repo, '1.2.3')).map((b) => b.text).join('\n');
    expect(all).toContain('5 /cache/x');
    expect(all).toMatch(/agent\n/);
  });

  it('gives RUN steps the add-hosts entries; refuses shm-size, which its BuildKit would ignore', async () => {
    const context = makeContext(
      256,
      `FROM local/busybox:latest\nRUN echo ${fresh()} && cat /etc/hosts > /hosts.txt\nCOPY payload.bin /p\n`,
    );
    const repo = repoName();
    const r = await publish(repo, { context, 'add-hosts': 'cache.internal:10.9.8.7' }, buildKitEnv());
    expect(r.code).toBe(0);
    const all = (await everyBlob(repo, '1.2.3')).map((b) => b.text).join('\n');
    expect(all).toMatch(/10\.9\.8\.7\s+cache\.internal/);

    const refused = await publish(repoName(), { context, 'shm-size': '256m' }, buildKitEnv());
    expect(refused.code).not.toBe(0);
    expect(errorLines(refused.log)).toHaveLength(1);
    expect(errorLines(refused.log)[0]).toMatch(
      /Input "shm-size" cannot be honoured by BuildKit, run by docker/,
    );
  });

  it('refuses build-contexts, which needs buildx, before building', async () => {
    const context = makeContext(256);
    const repo = repoName();
    const r = await publish(repo, { context, 'build-contexts': `extra=${context}` }, buildKitEnv());
    expect(r.code).not.toBe(0);
    expect(errorLines(r.log)[0]).toMatch(/^::error::Input "build-contexts" needs buildx/);
    expect(await probe.tags(repo)).toEqual([]);
  });
});

describe('the classic builder (docker 28 without buildx)', () => {
  it('refuses a RUN --mount Dockerfile before the build, in one line that says what to install; nothing pushed', async () => {
    const context = makeContext(
      256,
      'FROM local/busybox:latest\n# fetch deps\nRUN --mount=type=cache,target=/root/.npm echo hi\n',
    );
    const repo = repoName();
    const r = await publish(repo, { context }, classic());
    expect(r.code).not.toBe(0);
    const errors = errorLines(r.log);
    expect(errors).toHaveLength(1);
    expect(errors[0]).toMatch(/Dockerfile line 3 uses RUN --mount, which needs BuildKit/);
    expect(errors[0]).toMatch(/Install docker-buildx/);
    expect(r.log).toMatch(/Builder: classic docker build \(docker 28/);
    expect(r.log).not.toMatch(/Step 1\/|the --mount option requires BuildKit/); // no build ran
    expect(await probe.tags(repo)).toEqual([]);
  });

  it('refuses the secrets input before the build, without showing the secret; nothing pushed', async () => {
    const secret = `classic-${randomBytes(10).toString('hex')}`;
    const repo = repoName();
    const r = await publish(repo, { context: makeContext(256), secrets: `npm=${secret}` }, classic(), [
      secret,
    ]);
    expect(r.code).not.toBe(0);
    const errors = errorLines(r.log);
    expect(errors).toHaveLength(1);
    expect(errors[0]).toMatch(
      /^::error::Input "secrets" needs BuildKit, and this step builds with the classic builder/,
    );
    expect(errors[0]).toMatch(/Install docker-buildx/);
    expect(r.log).not.toMatch(/Step 1\//);
    expect(await probe.tags(repo)).toEqual([]);
    expectNoLeak(r, [secret]);
  });

  it('honours shm-size and ulimit in RUN steps', async () => {
    const context = makeContext(
      256,
      `FROM local/busybox:latest\nRUN echo ${fresh()} && busybox df -k /dev/shm > /shm.txt && ulimit -n > /nofile.txt\nCOPY payload.bin /p\n`,
    );
    const repo = repoName();
    const r = await publish(repo, { context, 'shm-size': '300m', ulimit: 'nofile=1234:2345' }, classic());
    expect(r.code).toBe(0);
    const all = (await everyBlob(repo, '1.2.3')).map((b) => b.text).join('\n');
    expect(all).toMatch(/shm\s+307200\s/);
    expect(all).toMatch(/nofile\.txt[\s\S]*?1234\n/);
  });
});

describe('build arguments that look like credentials', () => {
  it('warn by name and by value, pointing to secrets, without printing the value', async () => {
    const token = `npm_${randomBytes(10).toString('hex')}`;
    const r = await publish(
      repoName(),
      {
        context: makeContext(256),
        'build-args': `NPM_TOKEN=${token}\nREGISTRY_PW=${bed.reg1Pass}\nMODE=prod`,
      },
      classic(),
      [token],
    );
    expect(r.code).toBe(0);
    const warnings = visibleLog(r.log)
      .split('\n')
      .filter((l) => l.startsWith('::warning::'));
    expect(
      warnings.some((w) => /Build argument NPM_TOKEN looks like a credential.*secrets input/.test(w)),
    ).toBe(true);
    expect(
      warnings.some((w) =>
        /Build argument REGISTRY_PW carries the value of one of the step's secrets/.test(w),
      ),
    ).toBe(true);
    expect(warnings.some((w) => w.includes('MODE'))).toBe(false);
    expect(warnings.join('\n')).not.toContain(token);
  });
});

describe('the runtime', () => {
  it('runs the bundle under Node 24, as action.yml declares (runs.using: node24)', () => {
    expect(execFileSync(NODE24, ['--version'], { encoding: 'utf8' })).toMatch(/^v24\./);
  });
});
