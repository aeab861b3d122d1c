/**
 * attest: true, end to end (the stand-ins and the reads the checks use: attesting.ts): each
 * pushed subject's referrer is found in its registry with the test's own reads, and its bundle
 * verified with @sigstore/verify against the stand-ins' trust root.
 */
import { describe, expect, it } from '@jest/globals';
import { randomBytes } from 'node:crypto';
import { events, makeContext, REPO, runAction, visibleLog } from './harness.js';
import {
  expectProvenanceOf,
  github,
  GITHUB_INSTANCE,
  images,
  publish,
  PUBLIC_GOOD,
  referrers,
  release,
  runnerEnv,
  sigstore,
  verify,
  WORKFLOW_REF,
} from './attesting.js';

describe('attest: true, public repository (public-good: Fulcio + Rekor)', () => {
  it('each registry’s image gets a referrer whose bundle verifies, about its digest, signed by the workflow', async () => {
    const repo = `e2e/att${randomBytes(4).toString('hex')}`;
    const before = { seen: sigstore.seen.length, stored: github.stored.length };
    const r = await publish(repo, { context: makeContext(2048) });
    expect(r.code).toBe(0);
    const digest = r.outputs.digest;
    const listed = JSON.parse(r.outputs.attestations);
    expect(listed).toHaveLength(2);
    // Each OIDC token the step got was masked the moment it arrived (the runner hides these lines).
    expect(github.issued.length).toBeGreaterThan(0);
    for (const token of github.issued) expect(r.log).toContain(`::add-mask::${token}`);
    const signatures: string[] = [];
    for (const { reg, repo: path, name } of images(repo)) {
      const refs = await referrers(reg.probe, path, digest);
      expect(refs).toHaveLength(1);
      const { signer, statement, bundle } = verify(refs[0]!.bundle, PUBLIC_GOOD);
      signatures.push(JSON.parse(refs[0]!.bundle.toString('utf8')).dsseEnvelope.signatures[0].sig);
      expect(signer.identity?.subjectAlternativeName).toBe(WORKFLOW_REF);
      expectProvenanceOf(statement, name, digest);
      expect(bundle.verificationMaterial.tlogEntries).toHaveLength(1);
      const out = listed.find((a: any) => a.image === name);
      expect(out).toMatchObject({ digest, instance: 'public-good', foundBy: digest.replace(':', '-') });
      expect(out.logIndex).toBe(bundle.verificationMaterial.tlogEntries[0]!.logIndex);
      expect(out.verify[0]).toBe(
        `gh attestation verify oci://${name}@${digest} -R ${REPO} --bundle-from-oci`,
      );
      expect(r.summary).toContain(`\`${name}@${digest}\``);
      expect(r.summary).toContain(`Rekor ${out.logIndex}`);
      expect(r.summary).toContain(`gh attestation verify oci://${name}@${digest}`);
    }
    // Signed where a public repository signs: public-good, never GitHub's instance.
    const hosts = new Set(sigstore.seen.slice(before.seen).map((s) => s.host));
    expect([...hosts].sort()).toEqual(['fulcio.sigstore.dev', 'rekor.sigstore.dev']);
    // Stored in GitHub's attestations API, one per subject, the same bundles.
    const stored = github.stored.slice(before.stored);
    expect(stored.map((s) => s.repo)).toEqual([REPO, REPO]);
    expect(stored.map((s) => s.bundle.dsseEnvelope.signatures[0].sig).sort()).toEqual(signatures.sort());
    expect(listed.map((a: any) => a.attestationId).every((id: string) => /^\d+$/.test(id))).toBe(true);
  });

  it('a bundle with one byte changed fails verification', async () => {
    const repo = `e2e/tamper${randomBytes(4).toString('hex')}`;
    const r = await publish(repo, { context: makeContext(512) });
    expect(r.code).toBe(0);
    const [{ reg, repo: path }] = images(repo);
    const [ref] = await referrers(reg.probe, path, r.outputs.digest);
    const json = JSON.parse(ref!.bundle.toString('utf8'));
    expect(() => verify(ref!.bundle, PUBLIC_GOOD)).not.toThrow();
    // One byte of the signed payload (the subject's digest) changed.
    const payload = Buffer.from(json.dsseEnvelope.payload, 'base64');
    const at = payload.indexOf(r.outputs.digest.slice(7, 19));
    payload[at] = payload[at] === 0x61 ? 0x62 : 0x61;
    json.dsseEnvelope.payload = payload.toString('base64');
    expect(() => verify(Buffer.from(JSON.stringify(json)), PUBLIC_GOOD)).toThrow();
    // One byte of the signature changed.
    const sig = Buffer.from(
      JSON.parse(ref!.bundle.toString('utf8')).dsseEnvelope.signatures[0].sig,
      'base64',
    );
    sig[sig.length - 1] ^= 0x01;
    const json2 = JSON.parse(ref!.bundle.toString('utf8'));
    json2.dsseEnvelope.signatures[0].sig = sig.toString('base64');
    expect(() => verify(Buffer.from(JSON.stringify(json2)), PUBLIC_GOOD)).toThrow();
  });

  it('a multi-platform release attests the index (and each platform image) in both registries', async () => {
    const repo = `e2e/attmulti${randomBytes(4).toString('hex')}`;
    const r = await publish(repo, { context: makeContext(1024), platforms: 'linux/amd64,linux/arm64' });
    expect(r.code).toBe(0);
    const index = r.outputs.digest;
    const platforms = Object.values(JSON.parse(r.outputs.metadata).platforms) as string[];
    expect(platforms).toHaveLength(2);
    for (const { reg, repo: path, name } of images(repo)) {
      expect((await reg.probe.manifest(path, '1.2.3'))!.body.mediaType).toMatch(/index|list/);
      for (const digest of [index, ...platforms]) {
        const [ref] = await referrers(reg.probe, path, digest);
        expectProvenanceOf(verify(ref!.bundle, PUBLIC_GOOD).statement, name, digest);
      }
    }
    expect(JSON.parse(r.outputs.attestations)).toHaveLength(6);
  });

  it('push-by-digest legs are attested, and so is the index their merge pushes', async () => {
    const repo = `e2e/attmerge${randomBytes(4).toString('hex')}`;
    const context = makeContext(1024);
    const legs: string[] = [];
    for (const platform of ['linux/amd64', 'linux/arm64']) {
      const leg = await publish(repo, { context, platforms: platform, 'push-by-digest': 'true' });
      expect(leg.code).toBe(0);
      legs.push(leg.outputs.digest);
      for (const { reg, repo: path, name } of images(repo)) {
        const [ref] = await referrers(reg.probe, path, leg.outputs.digest);
        expectProvenanceOf(verify(ref!.bundle, PUBLIC_GOOD).statement, name, leg.outputs.digest);
      }
    }
    const merged = await publish(repo, { 'merge-digests': legs.join('\n') });
    expect(merged.code).toBe(0);
    for (const { reg, repo: path, name } of images(repo)) {
      const held = (await reg.probe.manifest(path, '1.2.3'))!;
      expect(held.digest).toBe(merged.outputs.digest);
      const [ref] = await referrers(reg.probe, path, merged.outputs.digest);
      expectProvenanceOf(verify(ref!.bundle, PUBLIC_GOOD).statement, name, merged.outputs.digest);
    }
  });
});

describe('attest: true, private repository (GitHub instance: Fulcio + timestamp authority)', () => {
  it('signs with GitHub’s instance, timestamped, beside the unsigned BuildKit-layout provenance', async () => {
    const repo = `e2e/attpriv${randomBytes(4).toString('hex')}`;
    const before = sigstore.seen.length;
    const r = await publish(
      repo,
      { context: makeContext(1024), provenance: 'true' },
      { event: release('private') },
    );
    expect(r.code).toBe(0);
    const hosts = new Set(sigstore.seen.slice(before).map((s) => s.host));
    expect([...hosts].sort()).toEqual(['fulcio.githubapp.com', 'timestamp.githubapp.com']);
    for (const { reg, repo: path, name } of images(repo)) {
      const held = (await reg.probe.manifest(path, '1.2.3'))!;
      // The unsigned statement stays where BuildKit keeps it: in the index, beside the image.
      const kinds = held.body.manifests.map(
        (m: any) => m.annotations?.['vnd.docker.reference.type'] ?? 'image',
      );
      expect(kinds).toEqual(['image', 'attestation-manifest']);
      const [ref] = await referrers(reg.probe, path, held.digest);
      const { statement, bundle } = verify(ref!.bundle, GITHUB_INSTANCE);
      expect(bundle.verificationMaterial.tlogEntries).toHaveLength(0);
      expect(bundle.verificationMaterial.timestampVerificationData?.rfc3161Timestamps).toHaveLength(1);
      expectProvenanceOf(statement, name, held.digest);
      // A public-good verifier (transparency log required) refuses it.
      expect(() => verify(ref!.bundle, PUBLIC_GOOD)).toThrow();
    }
    for (const a of JSON.parse(r.outputs.attestations)) {
      expect(a.instance).toBe('github');
      expect(a.logIndex).toBeUndefined();
      expect(r.summary).toContain(`GitHub instance, timestamped; attestation ${a.attestationId}`);
    }
  });
});

describe('attest: true, when it cannot or need not sign', () => {
  it('without id-token: write the step fails in one line naming the input, before building', async () => {
    const repo = `e2e/attnoid${randomBytes(4).toString('hex')}`;
    const before = sigstore.seen.length;
    const r = await publish(repo, { context: makeContext(256) }, { idToken: false });
    expect(r.code).not.toBe(0);
    const errors = visibleLog(r.log)
      .split('\n')
      .filter((l) => l.startsWith('::error'));
    expect(errors).toHaveLength(1);
    expect(errors[0]).toMatch(/Input "attest".*id-token: write.*\(got: "true"\)/);
    expect(r.log).not.toMatch(/Built |::group::Build/);
    for (const { reg, repo: path } of images(repo)) expect(await reg.probe.tags(path)).toEqual([]);
    expect(sigstore.seen.length).toBe(before);
  });

  it('an OIDC endpoint that refuses the token fails the step in one line, before building', async () => {
    const repo = `e2e/attrefused${randomBytes(4).toString('hex')}`;
    const before = sigstore.seen.length;
    github.fail({ method: 'GET', path: /^\/oidc\/token$/, status: 403, times: 1 });
    const r = await publish(repo, { context: makeContext(256) });
    expect(r.code).not.toBe(0);
    const errors = visibleLog(r.log)
      .split('\n')
      .filter((l) => l.startsWith('::error'));
    expect(errors).toHaveLength(1);
    expect(errors[0]).toMatch(
      /attest: the job's OIDC token could not be had \(.*403.*\); nothing was built or pushed/,
    );
    expect(r.log).not.toMatch(/Built |::group::Build/);
    for (const { reg, repo: path } of images(repo)) expect(await reg.probe.tags(path)).toEqual([]);
    expect(sigstore.seen.length).toBe(before);
  });

  it('a dry run says it would sign, and asks for no token', async () => {
    const before = github.issued.length;
    const r = await publish('e2e/attdry', { 'dry-run': 'true' }, { idToken: false });
    expect(r.code).toBe(0);
    expect(r.log).toContain(
      'would sign a SLSA build provenance attestation for every pushed image with Sigstore',
    );
    expect(github.issued.length).toBe(before);
  });

  it('a subject that could not be attested fails the step, which names it and what was attested', async () => {
    const repo = `e2e/atthalf${randomBytes(4).toString('hex')}`;
    // GitHub refuses the first attestation (a token without attestations: write), once.
    github.fail({ method: 'POST', path: /\/attestations$/, status: 403, times: 1 });
    const r = await publish(repo, { context: makeContext(256) });
    expect(r.code).not.toBe(0);
    const digest = JSON.parse(r.outputs.digests)[`${images(repo)[0]!.name}:1.2.3`];
    const [first, second] = images(repo);
    const errors = visibleLog(r.log)
      .split('\n')
      .filter((l) => l.startsWith('::error'));
    expect(errors).toHaveLength(1);
    expect(errors[0]).toContain(
      `1 of 2 pushed subjects have no signed attestation: ${first!.name}@${digest}`,
    );
    expect(errors[0]).not.toContain(second!.name);
    // The first image is pushed but carries no referrer; the second is attested.
    expect(await first!.reg.probe.manifest(first!.repo, digest.replace(':', '-'))).toBeUndefined();
    const [ref] = await referrers(second!.reg.probe, second!.repo, digest);
    expectProvenanceOf(verify(ref!.bundle, PUBLIC_GOOD).statement, second!.name, digest);
    expect(JSON.parse(r.outputs.attestations).map((a: any) => a.image)).toEqual([second!.name]);
    expect(r.summary).toMatch(new RegExp(`\\| \`${first!.name}@${digest}\` \\| .*403`));
  });

  it("a fork's pull request builds, pushes nothing, signs nothing and says so in one line", async () => {
    const repo = `e2e/attfork${randomBytes(4).toString('hex')}`;
    const before = { seen: sigstore.seen.length, issued: github.issued.length };
    const event = events.pr(7, true);
    const r = await runAction({
      event,
      env: runnerEnv(false), // a fork's pull request gets no id-token either
      inputs: {
        images: images(repo)
          .map((i) => i.name)
          .join('\n'),
        attest: 'true',
        context: makeContext(256),
      },
    });
    expect(r.code).toBe(0);
    expect(r.outputs.pushed).toBe('false');
    const lines = visibleLog(r.log)
      .split('\n')
      .filter((l) => /attest/i.test(l));
    expect(lines).toHaveLength(1);
    expect(lines[0]).toMatch(/^attest: nothing signed, as nothing was pushed \(.*fork.*\)\.$/);
    expect(sigstore.seen.length).toBe(before.seen);
    expect(github.issued.length).toBe(before.issued);
    expect(JSON.parse(r.outputs.attestations)).toEqual([]);
  });
});
