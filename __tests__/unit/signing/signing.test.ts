import { describe, expect, it } from '@jest/globals';
import { createHash } from 'node:crypto';
import type { Report, Target } from '../../../src/engine/push.js';
import { githubFacts } from '../../../src/provenance/predicate.js';
import type { RegistryClient } from '../../../src/registry/client.js';
import { RegistryError } from '../../../src/registry/retry.js';
import {
  assertCanAttest,
  missingError,
  subjectsOf,
  verifyCommands,
  warnUnsignedOnFailure,
} from '../../../src/signing/attest.js';
import { buildProvenancePredicate, runIdentity } from '../../../src/signing/predicate.js';
import {
  attachReferrer,
  referrerManifest,
  referrersTag,
  SIGSTORE_BUNDLE_V03,
  withReferrer,
} from '../../../src/signing/referrer.js';
import { sigstoreInstance } from '../../../src/signing/sigstore.js';
import { renderSummary } from '../../../src/summary.js';

const d = (c: string) => `sha256:${c.repeat(64)}`;
const INDEX = 'application/vnd.oci.image.index.v1+json';

describe('the Sigstore instance is chosen as GitHub’s attestation action chooses it', () => {
  it.each([
    ['a public repository on github.com', 'public', 'https://github.com', 'public-good'],
    ['a private repository on github.com', 'private', 'https://github.com', 'github'],
    ['an internal repository', 'internal', 'https://github.com', 'github'],
    ['a payload without visibility', undefined, undefined, 'github'],
  ])('%s', (_name, visibility, server, name) => {
    expect(sigstoreInstance(visibility, server).name).toBe(name);
  });

  it.each([
    [
      'public-good',
      'public',
      'https://github.com',
      ['https://fulcio.sigstore.dev', 'https://rekor.sigstore.dev', undefined],
    ],
    [
      'github.com’s own instance is githubapp.com',
      'private',
      'https://github.com',
      ['https://fulcio.githubapp.com', undefined, 'https://timestamp.githubapp.com'],
    ],
    [
      'a GitHub Enterprise host names its own',
      'private',
      'https://ghe.example.com',
      ['https://fulcio.ghe.example.com', undefined, 'https://timestamp.ghe.example.com'],
    ],
  ])('%s: Fulcio, Rekor, timestamp authority', (_name, visibility, server, urls) => {
    const i = sigstoreInstance(visibility, server);
    expect([i.fulcioURL, i.rekorURL, i.tsaURL]).toEqual(urls);
  });
});

describe('GitHub’s build provenance predicate, from the runner’s facts', () => {
  const env = {
    GITHUB_SERVER_URL: 'https://github.com',
    GITHUB_REPOSITORY: 'acme/api',
    GITHUB_SHA: 'a'.repeat(40),
    GITHUB_REF: 'refs/tags/v1.2.3',
    GITHUB_EVENT_NAME: 'push',
    GITHUB_RUN_ID: '42',
    GITHUB_RUN_ATTEMPT: '3',
    GITHUB_WORKFLOW_REF: 'acme/api/.github/workflows/release.yml@refs/tags/v1.2.3',
    RUNNER_ENVIRONMENT: 'self-hosted',
  };

  it('fills every field GitHub’s action writes', () => {
    const p = buildProvenancePredicate(
      githubFacts(env),
      runIdentity(env, { repository: { id: 9, owner: { id: 8 } } }),
    );
    expect(p).toEqual({
      buildDefinition: {
        buildType: 'https://actions.github.io/buildtypes/workflow/v1',
        externalParameters: {
          workflow: {
            ref: 'refs/tags/v1.2.3',
            repository: 'https://github.com/acme/api',
            path: '.github/workflows/release.yml',
          },
        },
        internalParameters: {
          github: {
            event_name: 'push',
            repository_id: '9',
            repository_owner_id: '8',
            runner_environment: 'self-hosted',
          },
        },
        resolvedDependencies: [
          { uri: 'git+https://github.com/acme/api@refs/tags/v1.2.3', digest: { gitCommit: 'a'.repeat(40) } },
        ],
      },
      runDetails: {
        builder: { id: 'https://github.com/acme/api/.github/workflows/release.yml@refs/tags/v1.2.3' },
        metadata: { invocationId: 'https://github.com/acme/api/actions/runs/42/attempts/3' },
      },
    });
  });

  it.each([
    [
      'the runner’s variables win over the payload',
      { GITHUB_REPOSITORY_ID: '1', GITHUB_REPOSITORY_OWNER_ID: '2' },
      { id: 9, owner: { id: 8 } },
      ['1', '2'],
    ],
    ['the payload fills what the runner leaves out', {}, { id: 9, owner: { id: 8 } }, ['9', '8']],
    ['neither: empty, not "undefined"', {}, undefined, ['', '']],
  ])('repository ids: %s', (_name, vars, repository, ids) => {
    const id = runIdentity(vars, repository ? { repository } : undefined);
    expect([id.repositoryId, id.repositoryOwnerId]).toEqual(ids);
  });
});

describe('every pushed subject is attested', () => {
  const targets: Target[] = [
    { name: 'a.io/acme/api', registry: 'a.io', repository: 'acme/api', tags: ['1.2.3'] },
    { name: 'b.io/acme/api', registry: 'b.io', repository: 'acme/api', tags: ['1.2.3'] },
  ];
  const report = (digests: Record<string, string>, platforms: Record<string, string> = {}): Report => ({
    digest: '',
    digests,
    platforms,
    failed: [],
  });
  it.each([
    [
      'one image: each registry’s manifest, once for all its tags',
      report({
        'a.io/acme/api:1.2.3': d('1'),
        'a.io/acme/api:latest': d('1'),
        'b.io/acme/api:1.2.3': d('1'),
      }),
      ['a.io/acme/api@' + d('1'), 'b.io/acme/api@' + d('1')],
    ],
    [
      'a multi-platform index: the index, then each platform image',
      report(
        { 'a.io/acme/api:1.2.3': d('9'), 'b.io/acme/api:1.2.3': d('9') },
        { 'linux/amd64': d('1'), 'linux/arm64': d('2') },
      ),
      [
        'a.io/acme/api@' + d('9'),
        'a.io/acme/api@' + d('1'),
        'a.io/acme/api@' + d('2'),
        'b.io/acme/api@' + d('9'),
        'b.io/acme/api@' + d('1'),
        'b.io/acme/api@' + d('2'),
      ],
    ],
    [
      'a push by digest: the digest it was pushed by',
      report(
        { [`a.io/acme/api@${d('3')}`]: d('3'), [`b.io/acme/api@${d('3')}`]: d('3') },
        { 'linux/amd64': d('3') },
      ),
      ['a.io/acme/api@' + d('3'), 'b.io/acme/api@' + d('3')],
    ],
    [
      'an image name that prefixes another is not mixed up with it',
      report({ 'a.io/acme/api-extra:1': d('4'), 'a.io/acme/api:1': d('5') }),
      ['a.io/acme/api@' + d('5')],
    ],
  ])('%s', (_name, r, expected) => {
    expect(subjectsOf(targets, r).map((s) => `${s.target.name}@${s.digest}`)).toEqual(expected);
  });

  it('the error names each subject left without an attestation, and how many were signed', () => {
    const err = missingError({
      signed: [{ image: 'b.io/x' } as never],
      missing: [{ image: 'a.io/x', digest: d('1'), error: 'HTTP 403' }],
    });
    expect(err.message).toBe(
      `attest: 1 of 2 pushed subjects have no signed attestation: a.io/x@${d('1')} (HTTP 403)`,
    );
  });

  it('the verify commands name the image by digest, the repository and the signer workflow', () => {
    const g = {
      repository: 'acme/api',
      serverUrl: 'https://github.com',
      workflowRef: 'acme/api/.github/workflows/r.yml@refs/heads/main',
    };
    const [gh, cosign] = verifyCommands('ghcr.io/acme/api', d('1'), g);
    expect(gh).toBe(`gh attestation verify oci://ghcr.io/acme/api@${d('1')} -R acme/api --bundle-from-oci`);
    expect(cosign).toContain(
      '--certificate-identity https://github.com/acme/api/.github/workflows/r.yml@refs/heads/main',
    );
    expect(cosign).toContain(`ghcr.io/acme/api@${d('1')}`);
  });
});

describe('the referrer layout cosign and gh read', () => {
  const subject = { digest: d('1'), mediaType: INDEX, size: 321 };
  const bundle = Buffer.from('{"mediaType":"application/vnd.dev.sigstore.bundle.v0.3+json"}');

  it('an OCI manifest: bundle artifact type, empty config, the bundle as its one layer, the image as subject', () => {
    const r = referrerManifest(bundle, subject, { 'dev.sigstore.bundle.content': 'dsse-envelope' });
    const m = JSON.parse(r.body.toString());
    expect(m.mediaType).toBe('application/vnd.oci.image.manifest.v1+json');
    expect(m.artifactType).toBe(SIGSTORE_BUNDLE_V03);
    expect(m.config).toEqual({
      mediaType: 'application/vnd.oci.empty.v1+json',
      digest: 'sha256:44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a',
      size: 2,
    });
    const bundleDigest = `sha256:${createHash('sha256').update(bundle).digest('hex')}`;
    expect(m.layers).toEqual([{ mediaType: SIGSTORE_BUNDLE_V03, digest: bundleDigest, size: bundle.length }]);
    expect(m.subject).toEqual(subject);
    expect(r.digest).toBe(`sha256:${createHash('sha256').update(r.body).digest('hex')}`);
    expect(r.descriptor).toMatchObject({
      digest: r.digest,
      size: r.body.length,
      artifactType: SIGSTORE_BUNDLE_V03,
    });
  });

  it('the referrers tag is the subject digest with a dash', () => {
    expect(referrersTag(d('a'))).toBe(`sha256-${'a'.repeat(64)}`);
  });

  const entry = (c: string) => ({
    mediaType: 'application/vnd.oci.image.manifest.v1+json',
    digest: d(c),
    size: 10,
    artifactType: SIGSTORE_BUNDLE_V03,
  });
  const index = (...m: unknown[]) =>
    Buffer.from(JSON.stringify({ schemaVersion: 2, mediaType: INDEX, manifests: m }));
  it.each([
    ['no index yet: one with this referrer', undefined, ['2']],
    ['an index with another referrer: both, the new one last', index(entry('3')), ['3', '2']],
    ['an index that lists this referrer already: listed once', index(entry('2'), entry('3')), ['3', '2']],
  ])('%s', (_name, existing, listed) => {
    const out = JSON.parse(withReferrer(existing, entry('2')).toString());
    expect(out.mediaType).toBe(INDEX);
    expect(out.manifests.map((m: { digest: string }) => m.digest)).toEqual(listed.map(d));
  });

  it('a tag that holds something other than an index is not overwritten', () => {
    const image = Buffer.from(
      JSON.stringify({ schemaVersion: 2, mediaType: 'application/vnd.oci.image.manifest.v1+json' }),
    );
    expect(() => withReferrer(image, entry('2'))).toThrow(/not an OCI index/);
  });

  /** A registry with just the calls attachReferrer makes, recording them. */
  function registry(o: { api: boolean; tagged?: Buffer }) {
    const calls: string[] = [];
    const client = {
      hasBlob: async (_r: string, digest: string) => (calls.push(`HEAD ${digest}`), false),
      uploadBlob: async (_r: string, digest: string) => void calls.push(`BLOB ${digest}`),
      putManifest: async (_r: string, ref: string, body: Buffer, type: string) => {
        calls.push(`PUT ${ref} ${type}`);
        if (ref.startsWith('sha256-')) o.tagged = body;
        return ref;
      },
      hasReferrersApi: async () => o.api,
      getManifest: async (_r: string, ref: string) => {
        calls.push(`GET ${ref}`);
        if (!o.tagged) throw new RegistryError('404', { registry: 'x', status: 404, retryable: false });
        return { body: o.tagged, mediaType: INDEX, digest: '' };
      },
    };
    return { calls, client: client as unknown as RegistryClient, o };
  }

  it.each([
    ['a registry with the referrers API: blobs, then the manifest alone', true, 'api'],
    ['a registry without it: blobs, the manifest, then the referrers tag', false, `sha256-${'1'.repeat(64)}`],
  ])('%s', async (_name, api, foundBy) => {
    const reg = registry({ api });
    const r = referrerManifest(bundle, subject, {});
    expect(await attachReferrer(reg.client, 'acme/api', r, subject.digest)).toBe(foundBy);
    const [config, layer] = r.blobs.map((b) => b.digest);
    const tag = `sha256-${'1'.repeat(64)}`;
    expect(reg.calls).toEqual([
      `HEAD ${config}`,
      `BLOB ${config}`,
      `HEAD ${layer}`,
      `BLOB ${layer}`,
      `PUT ${r.digest} application/vnd.oci.image.manifest.v1+json`,
      ...(api ? [] : [`GET ${tag}`, `PUT ${tag} ${INDEX}`]),
    ]);
  });

  it('a second attestation of the same image joins the first under the referrers tag', async () => {
    const reg = registry({ api: false });
    const first = referrerManifest(bundle, subject, { n: '1' });
    const second = referrerManifest(bundle, subject, { n: '2' });
    await attachReferrer(reg.client, 'acme/api', first, subject.digest);
    await attachReferrer(reg.client, 'acme/api', second, subject.digest);
    const listed = JSON.parse(reg.o.tagged!.toString()).manifests.map((m: { digest: string }) => m.digest);
    expect(listed).toEqual([first.digest, second.digest]);
  });
});

describe('the summary lists each attested subject', () => {
  const base = { version: '1.2.3', dryRun: false, plan: [], labels: {}, annotations: [], heldBack: [] };
  const report: Report = { digest: d('1'), digests: { 'a.io/x:1': d('1') }, platforms: {}, failed: [] };
  it.each([
    ['public-good: the Rekor log entry', { logIndex: '77', instance: 'public-good' as const }, 'Rekor 77'],
    [
      'GitHub’s instance: timestamped, and the stored attestation',
      { instance: 'github' as const, attestationId: '7001' },
      'GitHub instance, timestamped; attestation 7001',
    ],
  ])('%s', (_name, extra, entry) => {
    const signed = {
      image: 'a.io/x',
      digest: d('1'),
      bundle: d('b'),
      referrer: d('c'),
      foundBy: 'api',
      verify: ['gh attestation verify oci://a.io/x@' + d('1') + ' -R acme/api'],
      ...extra,
    };
    const md = renderSummary({ ...base, report, attested: { signed: [signed], missing: [] } });
    expect(md).toContain(
      `| \`a.io/x@${d('1')}\` | \`${d('b')}\` | \`${d('c')}\` | ${entry} | \`gh attestation verify`,
    );
  });

  it('and each one left out, with why', () => {
    const md = renderSummary({
      ...base,
      report,
      attested: { signed: [], missing: [{ image: 'a.io/x', digest: d('1'), error: 'refused' }] },
    });
    expect(md).toContain(`| \`a.io/x@${d('1')}\` | refused |`);
  });
});

describe('attest says before the build what it lacks', () => {
  const idToken = {
    ACTIONS_ID_TOKEN_REQUEST_URL: 'http://x/t?api-version=2.0',
    ACTIONS_ID_TOKEN_REQUEST_TOKEN: 'r',
  };
  it.each([
    [
      'no id-token: write (no request URL)',
      { ACTIONS_ID_TOKEN_REQUEST_TOKEN: 'r' },
      'tok',
      /^Input "attest": .*id-token: write.*\(got: "true"\)$/,
    ],
    ['no request token', { ACTIONS_ID_TOKEN_REQUEST_URL: 'http://x/t' }, 'tok', /^Input "attest"/],
    ['no github-token to store attestations', idToken, '', /^Input "github-token": .*attestations: write/],
  ])('%s', async (_name, env, token, message) => {
    await expect(assertCanAttest(env, token)).rejects.toThrow(message);
  });
});

describe('a failed push leaves its images unsigned, and says which', () => {
  const lines: string[] = [];
  const log = { debug: () => undefined, info: () => undefined, warning: (m: string) => void lines.push(m) };
  it.each([
    ['a complete push: nothing to say', [], { 'a.io/x:1': d('1') }, []],
    [
      'a push that failed part way: what went out unsigned',
      [{ ref: 'b.io/x:1', error: 'refused' }],
      { 'a.io/x:1': d('1') },
      ['attest: nothing was signed, because the push failed; pushed without an attestation: a.io/x:1'],
    ],
  ])('%s', (_name, failed, digests, said) => {
    lines.length = 0;
    warnUnsignedOnFailure({ digest: '', digests, platforms: {}, failed }, log);
    expect(lines).toEqual(said);
  });
});
