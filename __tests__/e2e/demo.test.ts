import { describe, expect, it } from '@jest/globals';
import { spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import * as path from 'node:path';
import { ROOT, secretForms, testBed } from './harness.js';

describe('the README demo (scripts/demo.sh) on the test bed', () => {
  it('shows what a runner shows: no secret in any form, the Docker config gone, no temp files left', () => {
    const bed = testBed();
    const envFile = path.join(process.env.PUBLISH_IMAGE_ENV ?? '/tmp/publish-image-env', 'env');
    const buildToken = `demo-build-${randomBytes(9).toString('hex')}`;
    const r = spawnSync('bash', [path.join(ROOT, 'scripts/demo.sh')], {
      env: { ...process.env, PUBLISH_IMAGE_DEMO_BED: envFile, PUBLISH_IMAGE_DEMO_BUILD_TOKEN: buildToken },
      encoding: 'utf8',
      timeout: 120_000,
    });
    const out = `${r.stdout}${r.stderr}`;
    expect(r.status).toBe(0);
    // Both logins of the demo: the htpasswd registry's and the token registry's.
    const forms = [
      ...secretForms(bed.reg1User, bed.reg1Pass),
      ...secretForms(bed.reg3User, bed.reg3Pass),
      ...[bed.reg1Pass, bed.reg3Pass].map((p) => Buffer.from(p).toString('base64')),
      buildToken, // the build secret the demo's Dockerfile reads
    ];
    for (const secret of forms) expect(out).not.toContain(secret);
    expect(out).toContain('password: ***');
    expect(out).toContain('secrets: npm_token=***');
    expect(out).toMatch(/Builder: BuildKit, run by docker 20\.10/);
    expect(out).not.toMatch(/^::/m); // every workflow command turned into a line a person reads
    expect(out).toMatch(/^▼ Build$/m);
    const dir = /the step's own Docker config \(not ~\/\.docker\)[^:\n]*: (\S+)/.exec(out)?.[1];
    expect(dir).toBeDefined();
    expect(out).toContain(`${dir} is gone: the main step removed it`);
    expect(existsSync(dir!)).toBe(false);
    expect(out).toMatch(/^version: 1\.2\.3$/m);
    // The release landed in both registries, read back by the demo itself.
    const held = out
      .split('\n')
      .filter((l) => l.startsWith('{"name":'))
      .map((l) => JSON.parse(l) as { name: string; tags: string[] })
      .map((l) => ({ name: l.name, tags: [...l.tags].sort() }));
    const release = ['1.2', '1.2.3', 'latest', 'sha-0123456'];
    expect(held).toEqual([
      // The release's build cache entry, beside the first image (see cache.test.ts).
      { name: 'acme/demo', tags: [...release, 'buildcache-release'].sort() },
      { name: `${bed.reg3User}/demo`, tags: release },
    ]);
    expect(out).toMatch(/credentials left behind under RUNNER_TEMP and HOME \(expect none\)\nnone$/m);
    const work = /temporary files of this demo: (\S+),/.exec(out)?.[1];
    expect(work).toBeDefined();
    expect(existsSync(work!)).toBe(false);
  });
});
