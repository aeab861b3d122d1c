/**
 * The signing test bed of attest.test.ts, started around the file that imports it: the bundled
 * action pushes to the real registries and signs with Sigstore through local stand-ins under
 * the real host names (Fulcio, Rekor, timestamp authority from @sigstore/mock behind HTTPS on a
 * loopback address, port 443), gets its OIDC token from a stand-in of the runner's endpoint and
 * stores each bundle through a stand-in of GitHub's attestations API. Also the checks' own
 * reads: the referrers tag schema, bundle verification with @sigstore/verify against the
 * stand-ins' trust root, and GitHub's predicate.
 */
import { afterAll, beforeAll, expect } from '@jest/globals';
import { bundleFromJSON } from '@sigstore/bundle';
import { toSignedEntity, toTrustMaterial, Verifier, type VerifierOptions } from '@sigstore/verify';
import * as path from 'node:path';
import { randomBytes } from 'node:crypto';
import {
  events,
  expectNoLeak,
  REPO,
  RegistryProbe,
  repositoryRecord,
  ROOT,
  runAction,
  secretForms,
  SHA,
  testBed,
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

export const BUNDLE_TYPE = 'application/vnd.dev.sigstore.bundle.v0.3+json';
export const WORKFLOW_REF = `${REPO}/.github/workflows/release.yml@refs/tags/v1.2.3`;
export const RUN_ENV = {
  GITHUB_RUN_ID: '4242',
  GITHUB_RUN_ATTEMPT: '2',
  GITHUB_WORKFLOW_REF: WORKFLOW_REF,
  GITHUB_WORKFLOW_SHA: SHA,
  RUNNER_ENVIRONMENT: 'github-hosted',
};

export let bed: Env;
export let regA: RegistryUnderTest; // htpasswd
export let regB: RegistryUnderTest; // token auth
export let sigstore: SigstoreStandIn;
export let github: GitHubStandIn;
export const apiToken = `ghs_${randomBytes(12).toString('hex')}`;

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
export function release(visibility: 'public' | 'private'): Event {
  const e = events.tag('v1.2.3');
  e.payload.repository = { ...repositoryRecord(), visibility, id: 101, owner: { login: 'acme', id: 202 } };
  return e;
}

/** What a runner with `id-token: write` gives the step, plus the stand-ins' reachability. */
export function runnerEnv(idToken = true): Record<string, string> {
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

export const registrySecrets = () => [
  ...secretForms(regA.user, regA.pass),
  ...secretForms(regB.user, regB.pass),
];

export async function publish(
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
export function images(repo: string): { reg: RegistryUnderTest; repo: string; name: string }[] {
  return [
    { reg: regA, repo: repo.replace(/^[^/]+/, 'team') },
    { reg: regB, repo: repo.replace(/^[^/]+/, regB.user) },
  ].map((x) => ({ ...x, name: `${x.reg.host}/${x.repo}` }));
}

/** The referrers tag schema's index for `digest`, and the bundles its Sigstore referrers hold. */
export async function referrers(probe: RegistryProbe, repo: string, digest: string) {
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

export const PUBLIC_GOOD: VerifierOptions = { tlogThreshold: 1, ctlogThreshold: 0, timestampThreshold: 0 };
export const GITHUB_INSTANCE: VerifierOptions = {
  tlogThreshold: 0,
  ctlogThreshold: 0,
  timestampThreshold: 1,
};

/** Verifies a bundle; returns its signer and its in-toto statement. */
export function verify(bytes: Buffer, options: VerifierOptions) {
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
export function expectProvenanceOf(statement: any, name: string, digest: string): void {
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
