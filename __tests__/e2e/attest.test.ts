/**
 * attest: true, end to end: the bundled action builds and pushes to the real registries, signs
 * with Sigstore through local stand-ins under the real host names (Fulcio, Rekor, timestamp
 * authority from @sigstore/mock behind HTTPS on 127.22.0.1:443), gets its OIDC token from a
 * stand-in of the runner's endpoint and stores the bundle through a stand-in of GitHub's
 * attestations API. The test then reads each registry with its own client, finds the referrer
 * under the referrers tag, and verifies the bundle with @sigstore/verify against the
 * stand-ins' trust root.
 */
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { bundleFromJSON } from '@sigstore/bundle';
import { toSignedEntity, toTrustMaterial, Verifier, type VerifierOptions } from '@sigstore/verify';
import * as path from 'node:path';
import { randomBytes } from 'node:crypto';
import {
  events,
  expectNoLeak,
  makeContext,
  REPO,
  RegistryProbe,
  repositoryRecord,
  ROOT,
  runAction,
  secretForms,
  SHA,
  testBed,
  visibleLog,
  type Env,
  type Event,
} from './harness.js';
import { tokenRegistry, htpasswdRegistry, registryAuthFor, type RegistryUnderTest } from './registries.js';
import {
  GITHUB_HOSTS,
  oidcClaims,
  PUBLIC_GOOD_HOSTS,
  startGitHubStandIn,
  startSigstore,
  type GitHubStandIn,
  type SigstoreStandIn,
} from '../helpers/sigstore-standin.js';

const BUNDLE_TYPE = 'application/vnd.dev.sigstore.bundle.v0.3+json';
const WORKFLOW_REF = `${REPO}/.github/workflows/release.yml@refs/tags/v1.2.3`;
const RUN_ENV = {
  GITHUB_RUN_ID: '4242',
  GITHUB_RUN_ATTEMPT: '2',
  GITHUB_WORKFLOW_REF: WORKFLOW_REF,
  GITHUB_WORKFLOW_SHA: SHA,
  RUNNER_ENVIRONMENT: 'github-hosted',
};

let bed: Env;
let regA: RegistryUnderTest; // htpasswd
let regB: RegistryUnderTest; // token auth
let sigstore: SigstoreStandIn;
let github: GitHubStandIn;
const apiToken = `ghs_${randomBytes(12).toString('hex')}`;

beforeAll(async () => {
  bed = testBed();
  regA = htpasswdRegistry(bed);
  regB = tokenRegistry(bed);
  sigstore = await startSigstore();
  github = await startGitHubStandIn({
    apiToken,
    claims: oidcClaims({
      repository: REPO,
      ref: 'refs/tags/v1.2.3',
      sha: SHA,
      workflowRef: WORKFLOW_REF,
      eventName: 'push',
    }),
  });
});

afterAll(async () => {
  await sigstore?.close();
  await github?.close();
});

/** The repository record of the payload, public or private (no visibility = not public). */
function release(visibility: 'public' | 'private'): Event {
  const e = events.tag('v1.2.3');
  e.payload.repository = { ...repositoryRecord(), visibility, id: 101, owner: { login: 'acme', id: 202 } };
  return e;
}

/** What a runner with `id-token: write` gives the step, plus the stand-ins' reachability. */
function runnerEnv(idToken = true): Record<string, string> {
  const env: Record<string, string> = {
    ...RUN_ENV,
    GITHUB_API_URL: github.url,
    NODE_OPTIONS: `--import ${path.join(ROOT, '__tests__/helpers/resolve-standins.mjs')}`,
    STANDIN_HOSTS: `${[...PUBLIC_GOOD_HOSTS, ...GITHUB_HOSTS].join(',')}=${sigstore.address}`,
    NODE_EXTRA_CA_CERTS: sigstore.caFile,
  };
  if (idToken) {
    env.ACTIONS_ID_TOKEN_REQUEST_URL = `${github.url}/oidc/token?api-version=2.0`;
    env.ACTIONS_ID_TOKEN_REQUEST_TOKEN = github.requestToken;
  }
  return env;
}

const registrySecrets = () => [...secretForms(regA.user, regA.pass), ...secretForms(regB.user, regB.pass)];

async function publish(
  repo: string,
  inputs: Record<string, string>,
  o: { event?: Event; idToken?: boolean } = {},
) {
  const r = await runAction({
    event: o.event ?? release('public'),
    secrets: [...registrySecrets(), apiToken, github.requestToken],
    env: runnerEnv(o.idToken ?? true),
    inputs: {
      images: `${regA.host}/${repo.replace(/^[^/]+/, 'team')}\n${regB.host}/${repo.replace(/^[^/]+/, regB.user)}`,
      'registry-auth': registryAuthFor([regA, regB]),
      'github-token': apiToken,
      attest: 'true',
      ...inputs,
    },
  });
  // The OIDC tokens handed out are secrets too: nowhere in the log, outputs, summary or files.
  expectNoLeak(r, [...registrySecrets(), apiToken, github.requestToken, ...github.issued]);
  return r;
}

/** Both registries' image names for one repository path. */
function images(repo: string): { reg: RegistryUnderTest; repo: string; name: string }[] {
  return [
    { reg: regA, repo: repo.replace(/^[^/]+/, 'team') },
    { reg: regB, repo: repo.replace(/^[^/]+/, regB.user) },
  ].map((x) => ({ ...x, name: `${x.reg.host}/${x.repo}` }));
}

/** The referrers tag schema's index for `digest`, and the bundles its Sigstore referrers hold. */
async function referrers(probe: RegistryProbe, repo: string, digest: string) {
  const index = await probe.manifest(repo, digest.replace(':', '-'));
  expect(index).toBeDefined();
  expect(index!.body.mediaType).toBe('application/vnd.oci.image.index.v1+json');
  const found: { manifest: Record<string, any>; bundle: Buffer }[] = [];
  for (const entry of index!.body.manifests.filter((m: any) => m.artifactType === BUNDLE_TYPE)) {
    const m = (await probe.manifest(repo, entry.digest))!;
    expect(m.body.artifactType).toBe(BUNDLE_TYPE);
    expect(m.body.subject.digest).toBe(digest);
    expect(m.body.layers).toHaveLength(1);
    expect(m.body.layers[0].mediaType).toBe(BUNDLE_TYPE);
    found.push({ manifest: m.body, bundle: await probe.blob(repo, m.body.layers[0].digest) });
  }
  return found;
}

const PUBLIC_GOOD: VerifierOptions = { tlogThreshold: 1, ctlogThreshold: 0, timestampThreshold: 0 };
const GITHUB_INSTANCE: VerifierOptions = { tlogThreshold: 0, ctlogThreshold: 0, timestampThreshold: 1 };

/** Verifies a bundle; returns its signer and its in-toto statement. */
function verify(bytes: Buffer, options: VerifierOptions) {
  const bundle = bundleFromJSON(JSON.parse(bytes.toString('utf8')));
  const trust = toTrustMaterial(sigstore.trustedRoot as unknown as Parameters<typeof toTrustMaterial>[0]);
  const signer = new Verifier(trust, options).verify(toSignedEntity(bundle), {
    subjectAlternativeName: WORKFLOW_REF,
    extensions: { issuer: 'https://token.actions.githubusercontent.com' },
  });
  const envelope = bundle.content.$case === 'dsseEnvelope' ? bundle.content.dsseEnvelope : undefined;
  const statement = JSON.parse(Buffer.from(envelope!.payload).toString('utf8'));
  return { signer, statement, bundle };
}

/** Checks the statement is GitHub's SLSA build provenance about `name@digest`, from this run. */
function expectProvenanceOf(statement: any, name: string, digest: string): void {
  expect(statement._type).toBe('https://in-toto.io/Statement/v1');
  expect(statement.subject).toEqual([{ name, digest: { sha256: digest.replace('sha256:', '') } }]);
  expect(statement.predicateType).toBe('https://slsa.dev/provenance/v1');
  const p = statement.predicate;
  expect(p.buildDefinition.buildType).toBe('https://actions.github.io/buildtypes/workflow/v1');
  expect(p.buildDefinition.externalParameters.workflow).toEqual({
    ref: 'refs/tags/v1.2.3',
    repository: `https://github.com/${REPO}`,
    path: '.github/workflows/release.yml',
  });
  expect(p.buildDefinition.internalParameters.github).toEqual({
    event_name: 'push',
    repository_id: '101',
    repository_owner_id: '202',
    runner_environment: 'github-hosted',
  });
  expect(p.buildDefinition.resolvedDependencies).toEqual([
    { uri: `git+https://github.com/${REPO}@refs/tags/v1.2.3`, digest: { gitCommit: SHA } },
  ]);
  expect(p.runDetails.builder.id).toBe(`https://github.com/${WORKFLOW_REF}`);
  expect(p.runDetails.metadata.invocationId).toBe(`https://github.com/${REPO}/actions/runs/4242/attempts/2`);
}

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
    expect(r.summary).toContain('github (timestamp)');
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
