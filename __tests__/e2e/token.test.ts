/**
 * The token registry (distribution in `auth: token` mode + scripts/token-server.mjs) where the
 * token protocol itself matters: tokens that die mid-upload or between requests, a namespace
 * the user may not write, and the pull scope a cross-repository mount asks for.
 */
import { createHash } from 'node:crypto';
import { afterEach, beforeAll, describe, expect, it } from '@jest/globals';
import { startFaultProxy, type FaultProxy } from '../helpers/faultproxy.js';
import { events, makeContext, runAction, secretForms, testBed, type Env } from './harness.js';
import {
  registryAuthFor,
  setTokenTtl,
  tokenLog,
  tokenRegistry,
  type RegistryUnderTest,
} from './registries.js';

const MiB = 1024 * 1024;
let bed: Env;
let reg: RegistryUnderTest;
let proxy: FaultProxy | undefined;

beforeAll(() => {
  bed = testBed();
  reg = tokenRegistry(bed);
});
afterEach(async () => {
  await setTokenTtl(bed, 300);
  await proxy?.close();
  proxy = undefined;
});

/** Publishes to `images` (on `host`, the registry or a proxy in front of it) as carol. */
function publish(
  host: string,
  repos: string[],
  event: ReturnType<typeof events.tag>,
  inputs: Record<string, string>,
) {
  return runAction({
    event,
    secrets: secretForms(reg.user, reg.pass),
    inputs: {
      images: repos.map((r) => `${host}/${r}`).join('\n'),
      'registry-auth': registryAuthFor([{ ...reg, host }]),
      ...inputs,
    },
  });
}

const errorsOf = (log: string) => log.split('\n').filter((l) => l.startsWith('::error'));
const retriesOf = (log: string) => log.split('\n').filter((l) => /retrying in/.test(l));
const writesTo = (p: FaultProxy, repo: string) =>
  p.requests.filter((q) => q.method !== 'GET' && q.method !== 'HEAD' && q.path.startsWith(`/v2/${repo}/`));

/** Every layer and the config of `repo:tag`, fetched whole and checked against its digest. */
async function expectWhole(repo: string, tag: string): Promise<void> {
  const m = await reg.probe.manifest(repo, tag);
  expect(m).toBeDefined();
  for (const d of [m!.body.config, ...m!.body.layers] as { digest: string; size: number }[]) {
    const bytes = await reg.probe.blob(repo, d.digest);
    expect(bytes.length).toBe(d.size);
    expect(`sha256:${createHash('sha256').update(bytes).digest('hex')}`).toBe(d.digest);
  }
}

describe('tokens that expire during a publish are renewed', () => {
  it('a 1 s token lifetime and an upload of several seconds: the push succeeds and the token log shows renewals', async () => {
    const repo = reg.repo('ttl');
    await setTokenTtl(bed, 1);
    // 6 MiB of random bytes at 2 MiB/s: the layer upload outlives several tokens.
    proxy = await startFaultProxy(reg.host, { bytesPerSecond: 2 * MiB });
    const since = new Date().toISOString();
    const r = await publish(proxy.host, [repo], events.branch('main'), {
      context: makeContext(6 * MiB),
      tags: 'type=raw,value=slow',
    });
    expect(errorsOf(r.log)).toEqual([]);
    expect(r.code).toBe(0);
    expect(r.ms).toBeGreaterThan(3000);
    await setTokenTtl(bed, 300);
    await expectWhole(repo, 'slow');
    const pushTokens = tokenLog(bed, since, repo).filter(
      (e) => e.account === reg.user && e.scopes.includes(`repository:${repo}:pull,push`),
    );
    for (const e of pushTokens) expect(e.expires_in).toBe(1);
    // Renewed as the upload went on: push tokens asked for more than two lifetimes apart, so the
    // writes after the slow upload did not reuse the first one. (How many in all depends on how
    // the check, the build and the uploads fall against the 1 s lifetime.)
    const times = pushTokens.map((e) => Date.parse(e.time));
    expect(pushTokens.length).toBeGreaterThanOrEqual(2);
    expect(Math.max(...times) - Math.min(...times)).toBeGreaterThan(2000);
    expect(retriesOf(r.log)).toEqual([]);
  });

  it('tokens that die before their expires_in, during slow uploads: each refused write renews its token and the image arrives whole', async () => {
    const repo = reg.repo('writes');
    await setTokenTtl(bed, 1, 300);
    proxy = await startFaultProxy(reg.host, {
      bytesPerSecond: 2 * MiB,
      slowAnswers: { path: /^\/v2\/.+\/(manifests|blobs)\//, ms: 1200 },
    });
    const r = await publish(proxy.host, [repo], events.branch('main'), {
      context: makeContext(3 * MiB),
      tags: 'type=raw,value=one\ntype=raw,value=two',
    });
    expect(errorsOf(r.log)).toEqual([]);
    expect(r.code).toBe(0);
    await setTokenTtl(bed, 300);
    for (const tag of ['one', 'two']) await expectWhole(repo, tag);
    const writes = proxy.requests.filter((q) => ['POST', 'PATCH', 'PUT'].includes(q.method));
    // Refused as expired, then accepted with a fresh token.
    expect(writes.filter((q) => q.status === 401).length).toBeGreaterThanOrEqual(1);
    expect(writes.filter((q) => q.method === 'PUT' && q.status === 201).length).toBeGreaterThanOrEqual(2);
  });

  it('tokens that die before their expires_in (revoked, skewed clock): reads renew them and still find the earlier image, so no layer is sent again', async () => {
    const repo = reg.repo('reads');
    const first = await publish(reg.host, [repo], events.branch('main'), {
      context: makeContext(2 * MiB),
      tags: 'type=raw,value=stable',
    });
    expect(errorsOf(first.log)).toEqual([]);
    expect(first.code).toBe(0);
    // The registry refuses every token after 1 s while the client is told 300 s, and each
    // answer to a read arrives 1.2 s late: every read is sent with a token that just died.
    await setTokenTtl(bed, 1, 300);
    proxy = await startFaultProxy(reg.host, {
      slowAnswers: { path: /^\/v2\/.+\/(manifests\/|blobs\/sha256:|tags\/)/, ms: 1200 },
    });
    const since = new Date().toISOString();
    const again = await publish(proxy.host, [repo], events.branch('main'), {
      source: first.outputs.imageid,
      context: '/nonexistent',
      tags: 'type=raw,value=stable',
    });
    expect(errorsOf(again.log)).toEqual([]);
    expect(again.code).toBe(0);
    expect(again.outputs.digest).toBe(first.outputs.digest);
    const reads = proxy.requests.filter((q) =>
      /\/(manifests|blobs)\/sha256:|\/manifests\/stable$/.test(q.path),
    );
    // Refused as expired, then answered after a renewal...
    expect(reads.filter((q) => q.status === 401).length).toBeGreaterThanOrEqual(1);
    expect(reads.filter((q) => q.status === 200).length).toBeGreaterThanOrEqual(2);
    expect(tokenLog(bed, since, repo).filter((e) => e.account === reg.user).length).toBeGreaterThanOrEqual(2);
    // ...so the earlier image was found: no blob upload at all.
    expect(proxy.requests.filter((q) => q.method === 'POST' || q.method === 'PATCH')).toEqual([]);
    expect(retriesOf(again.log)).toEqual([]);
  });
});

describe('a namespace the user may not write', () => {
  it('pushing otheruser/app as carol fails in under 10 s with one access-denied error naming the repository, nothing retried, nothing written', async () => {
    proxy = await startFaultProxy(reg.host);
    const since = new Date().toISOString();
    const r = await publish(proxy.host, ['otheruser/app'], events.tag('v1.0.0'), { context: makeContext() });
    expect(r.code).toBe(1);
    expect(r.ms).toBeLessThan(10_000);
    const errors = errorsOf(r.log);
    expect(errors).toHaveLength(1);
    expect(errors[0]).toMatch(/Access denied/);
    expect(errors[0]).toContain(`user ${reg.user} may not push to otheruser/app`);
    expect(errors[0]).toContain(proxy.host);
    expect(errors[0]).not.toMatch(/not logged in|rejected the credentials/);
    expect(retriesOf(r.log)).toEqual([]);
    expect(writesTo(proxy, 'otheruser/app')).toEqual([]);
    // One token asked for otheruser/app (the login check), granted without push.
    const asked = tokenLog(bed, since, 'otheruser/app');
    expect(asked).toHaveLength(1);
    expect(asked[0]!.granted).toEqual([{ type: 'repository', name: 'otheruser/app', actions: ['pull'] }]);
    expect(await reg.probe.tags('otheruser/app')).toEqual([]);
  });

  it('a second repository in a namespace the user may not write: refused before the build, in under 10 s, nothing pushed to either', async () => {
    const mine = reg.repo('mixed');
    proxy = await startFaultProxy(reg.host);
    const r = await publish(proxy.host, [mine, 'otheruser/app'], events.branch('main'), {
      context: makeContext(),
      tags: 'type=raw,value=one',
    });
    expect(r.code).toBe(1);
    expect(r.ms).toBeLessThan(10_000);
    const errors = errorsOf(r.log);
    expect(errors).toHaveLength(1);
    expect(errors[0]).toMatch(/Access denied: .* user carol may not push to otheruser\/app/);
    expect(errors[0]).not.toMatch(/not logged in/);
    expect(retriesOf(r.log)).toEqual([]);
    // Every target repository's access was checked before anything was built or sent.
    expect(r.log).not.toMatch(/^Built /m);
    expect(writesTo(proxy, mine)).toEqual([]);
    expect(writesTo(proxy, 'otheruser/app')).toEqual([]);
    expect(await reg.probe.tags(mine)).toEqual([]);
    expect(await reg.probe.tags('otheruser/app')).toEqual([]);
    expect(JSON.parse(r.outputs.digests || '{}')).toEqual({});
  });
});

describe('cross-repository mounts', () => {
  it('a push to two repositories mounts into the second, asking for the source repository pull scope', async () => {
    const a = reg.repo('mount');
    const b = `team/${a.split('/')[1]}`;
    proxy = await startFaultProxy(reg.host);
    const since = new Date().toISOString();
    const r = await publish(proxy.host, [a, b], events.tag('v1.0.0'), { context: makeContext(4096) });
    expect(errorsOf(r.log)).toEqual([]);
    expect(r.code).toBe(0);
    expect(await reg.probe.tags(b)).toEqual(await reg.probe.tags(a));
    await expectWhole(b, '1.0.0');
    const mounts = proxy.requests.filter(
      (q) => q.method === 'POST' && q.path.includes(`/v2/${b}/blobs/uploads/?mount=`),
    );
    expect(mounts.length).toBeGreaterThan(0);
    expect(mounts.every((q) => q.status === 201)).toBe(true);
    const asked = tokenLog(bed, since).filter(
      (e) => e.scopes.includes(`repository:${b}:pull,push`) && e.scopes.includes(`repository:${a}:pull`),
    );
    expect(asked.length).toBeGreaterThan(0);
    expect(asked[0]!.granted).toEqual([
      { type: 'repository', name: b, actions: ['pull', 'push'] },
      { type: 'repository', name: a, actions: ['pull'] },
    ]);
  });
});
