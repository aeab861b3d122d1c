import { createHash } from 'node:crypto';
import { describe, expect, it } from '@jest/globals';
import {
  type BuildFacts,
  buildTypeOf,
  githubFacts,
  parseProvenance,
  purl,
  splitRef,
} from '../../../src/provenance/predicate.js';
import { provenanceStatement, redact } from '../../../src/provenance/statement.js';
import { attestationEntry, attestationManifest, isAttestationEntry } from '../../../src/provenance/layout.js';
import { repoDigestOf, resolvedDigestOf } from '../../../src/provenance/recorder.js';
import { buildImageIndex } from '../../../src/registry/oci.js';

const SHA = 'a1b2c3d4e5f60718293a4b5c6d7e8f9012345678';
const IMAGE = `sha256:${'1'.repeat(64)}`;
const BASE = `sha256:${'2'.repeat(64)}`;
const TOKEN = 'ghp_abcdefTOKEN123';

const facts = (over: Partial<BuildFacts> = {}): BuildFacts => ({
  github: githubFacts({
    GITHUB_SERVER_URL: 'https://github.com',
    GITHUB_REPOSITORY: 'acme/api',
    GITHUB_SHA: SHA,
    GITHUB_REF: 'refs/tags/v1.2.3',
    GITHUB_EVENT_NAME: 'push',
    GITHUB_RUN_ID: '77',
    GITHUB_RUN_ATTEMPT: '1',
    GITHUB_WORKFLOW_REF: 'acme/api/.github/workflows/release.yml@refs/tags/v1.2.3',
    GITHUB_WORKFLOW_SHA: SHA,
    GITHUB_ACTOR: 'octocat',
  }),
  dockerfile: { path: 'docker/Dockerfile', digest: `sha256:${'d'.repeat(64)}` },
  context: '.',
  target: 'release',
  buildArgs: ['API_URL=https://api.example.com', `LEAKED=${TOKEN}`],
  labels: { 'org.opencontainers.image.revision': SHA },
  bases: [{ ref: 'alpine:3.20', digest: BASE }, { ref: 'local/tools' }],
  builderPlatform: 'linux/amd64',
  settings: { pull: true },
  invocationId: 'inv1',
  startedOn: '2026-01-01T00:00:00.000Z',
  finishedOn: '2026-01-01T00:01:00.000Z',
  ...over,
});

const subject = {
  digest: IMAGE,
  refs: [{ name: 'ghcr.io/acme/api', tag: '1.2.3' }],
  platform: 'linux/arm64',
};

describe('the provenance input, with BuildKit meanings', () => {
  it.each([
    ['', undefined],
    ['false', undefined],
    ['FALSE', undefined],
    ['true', { mode: 'min', version: 'v0.2' }],
    ['mode=min', { mode: 'min', version: 'v0.2' }],
    ['mode=max', { mode: 'max', version: 'v0.2' }],
    [' mode=max , version=v1 ', { mode: 'max', version: 'v1' }],
    ['version=v1', { mode: 'min', version: 'v1' }],
  ])('%j', (raw, want) => {
    expect(parseProvenance(raw)).toEqual(want);
  });

  it.each(['yes', 'mode=maximum', 'mode=max,version=v2', 'mode=', 'builder-id=x'])('refuses %j', (raw) => {
    expect(() => parseProvenance(raw)).toThrow(/must be false, true, mode=min or mode=max/);
  });
});

describe('the in-toto statement', () => {
  it.each([
    ['v0.2', 'https://in-toto.io/Statement/v0.1', 'https://slsa.dev/provenance/v0.2'],
    ['v1', 'https://in-toto.io/Statement/v1', 'https://slsa.dev/provenance/v1'],
  ] as const)(
    'SLSA %s: statement and predicate types as BuildKit writes them',
    (version, type, predicate) => {
      const s = provenanceStatement(subject, facts(), { mode: 'min', version }, []);
      expect(s._type).toBe(type);
      expect(s.predicateType).toBe(predicate);
      expect(s.subject).toEqual([
        {
          name: 'pkg:docker/ghcr.io/acme/api@1.2.3?platform=linux%2Farm64',
          digest: { sha256: '1'.repeat(64) },
        },
      ]);
    },
  );

  it('v0.2 carries the GitHub context, Dockerfile, bases and times', () => {
    const p = provenanceStatement(subject, facts(), { mode: 'min', version: 'v0.2' }, []).predicate as any;
    expect(p.builder.id).toBe('https://github.com/acme/api/actions/runs/77/attempts/1');
    expect(p.invocation.configSource).toEqual({
      uri: 'https://github.com/acme/api.git#refs/tags/v1.2.3',
      digest: { sha1: SHA },
      entryPoint: 'docker/Dockerfile',
    });
    expect(p.invocation.environment).toMatchObject({
      platform: 'linux/amd64',
      github_workflow: '.github/workflows/release.yml',
      github_event_name: 'push',
    });
    expect(p.materials).toEqual([
      { uri: 'pkg:docker/alpine@3.20?platform=linux%2Farm64', digest: { sha256: '2'.repeat(64) } },
      { uri: 'pkg:docker/local/tools?platform=linux%2Farm64' },
      { uri: 'https://github.com/acme/api.git#refs/tags/v1.2.3', digest: { sha1: SHA } },
    ]);
    expect(p.metadata).toMatchObject({
      buildInvocationID: 'inv1',
      buildStartedOn: '2026-01-01T00:00:00.000Z',
      buildFinishedOn: '2026-01-01T00:01:00.000Z',
      'https://mobyproject.org/buildkit@v1#metadata': {
        vcs: { source: 'https://github.com/acme/api', revision: SHA },
      },
    });
  });

  it.each([
    ['min', false, ['filename', 'target']],
    [
      'max',
      true,
      [
        'build-arg:API_URL',
        'build-arg:LEAKED',
        'filename',
        'label:org.opencontainers.image.revision',
        'target',
      ],
    ],
  ] as const)('mode=%s: args, completeness and buildConfig as BuildKit decides', (mode, complete, keys) => {
    const p = provenanceStatement(subject, facts(), { mode, version: 'v0.2' }, [TOKEN]).predicate as any;
    expect(Object.keys(p.invocation.parameters.args).sort()).toEqual(keys);
    expect(p.metadata.completeness.parameters).toBe(complete);
    expect(p.buildConfig === undefined).toBe(!complete);
    if (complete) expect(p.buildConfig.dockerfile.digest).toEqual({ sha256: 'd'.repeat(64) });
  });

  it.each(['min', 'max'] as const)('mode=%s never writes a token, wherever it turns up', (mode) => {
    for (const version of ['v0.2', 'v1'] as const) {
      const s = provenanceStatement(subject, facts(), { mode, version }, [TOKEN]);
      expect(JSON.stringify(s)).not.toContain(TOKEN);
    }
  });

  it('v1 puts the same facts in buildDefinition and runDetails', () => {
    const p = provenanceStatement(subject, facts(), { mode: 'max', version: 'v1' }, []).predicate as any;
    expect(p.buildDefinition.externalParameters.configSource.path).toBe('docker/Dockerfile');
    expect(p.buildDefinition.externalParameters.workflow).toEqual({
      ref: 'refs/tags/v1.2.3',
      repository: 'acme/api',
      path: '.github/workflows/release.yml',
    });
    expect(p.buildDefinition.internalParameters.buildConfig.dockerfile.path).toBe('docker/Dockerfile');
    expect(p.runDetails.builder.id).toBe('https://github.com/acme/api/actions/runs/77/attempts/1');
    expect(p.runDetails.metadata.buildkit_completeness.request).toBe(true);
  });

  it('an image published from the daemon (source) has no Dockerfile to name', () => {
    const p = provenanceStatement(
      subject,
      facts({ dockerfile: undefined }),
      { mode: 'min', version: 'v0.2' },
      [],
    ).predicate as any;
    expect(p.invocation.configSource.entryPoint).toBeUndefined();
    expect(p.invocation.parameters.locals).toEqual([]);
  });

  it('push-by-digest: subjects without a tag', () => {
    const s = provenanceStatement(
      { ...subject, refs: [{ name: 'r.io/a' }] },
      facts(),
      { mode: 'min', version: 'v0.2' },
      [],
    );
    expect((s.subject as any)[0].name).toBe('pkg:docker/r.io/a?platform=linux%2Farm64');
  });
});

describe('buildType names the action that made the statement', () => {
  const run = { GITHUB_SERVER_URL: 'https://github.com', GITHUB_REPOSITORY: 'acme/api', GITHUB_SHA: SHA };
  it.each([
    [
      'the repository and ref of `uses: owner/repo@ref`',
      { GITHUB_ACTION_REPOSITORY: 'someone/publish-image', GITHUB_ACTION_REF: 'v2' },
      'https://github.com/someone/publish-image/blob/v2/README.md#provenance',
    ],
    [
      'a pinned commit',
      { GITHUB_ACTION_REPOSITORY: 'someone/publish-image', GITHUB_ACTION_REF: SHA },
      `https://github.com/someone/publish-image/blob/${SHA}/README.md#provenance`,
    ],
    [
      'a local action (`uses: ./`): the workflow repository at the commit built',
      { GITHUB_ACTION_REPOSITORY: '', GITHUB_ACTION_REF: '' },
      `https://github.com/acme/api/blob/${SHA}/README.md#provenance`,
    ],
    [
      'a GitHub Enterprise server',
      {
        GITHUB_SERVER_URL: 'https://ghe.example',
        GITHUB_ACTION_REPOSITORY: 'ops/pi',
        GITHUB_ACTION_REF: 'main',
      },
      'https://ghe.example/ops/pi/blob/main/README.md#provenance',
    ],
  ])('%s', (_what, env, want) => {
    const github = githubFacts({ ...run, ...env });
    expect(buildTypeOf(github)).toBe(want);
    const v1 = provenanceStatement(subject, facts({ github }), { version: 'v1', mode: 'min' }, []);
    const v02 = provenanceStatement(subject, facts({ github }), { version: 'v0.2', mode: 'min' }, []);
    expect((v1.predicate as any).buildDefinition.buildType).toBe(want);
    expect((v02.predicate as any).buildType).toBe(want);
  });
});

describe('helpers', () => {
  it.each([
    ['alpine:3.20', { name: 'alpine', version: '3.20' }],
    ['127.0.0.1:5000/base', { name: '127.0.0.1:5000/base' }],
    ['127.0.0.1:5000/base:1', { name: '127.0.0.1:5000/base', version: '1' }],
    [`alpine@${BASE}`, { name: 'alpine', version: BASE }],
  ])('splitRef(%s)', (ref, want) => {
    expect(splitRef(ref)).toEqual(want);
  });

  it.each([
    ['docker.io/library/alpine', '3', 'pkg:docker/alpine@3?platform=linux%2Famd64'],
    ['ghcr.io/acme/api', undefined, 'pkg:docker/ghcr.io/acme/api?platform=linux%2Famd64'],
  ])('purl(%s)', (name, version, want) => {
    expect(purl(name, version, 'linux/amd64')).toBe(want);
  });

  it.each([
    ['alpine:3.20', [`alpine@${BASE}`], BASE],
    ['docker.io/library/alpine:3.20', [`alpine@${BASE}`], BASE],
    ['127.0.0.1:5000/base:1', [`127.0.0.1:5000/other@${IMAGE}`, `127.0.0.1:5000/base@${BASE}`], BASE],
    ['local/tools', [], undefined],
  ])('repoDigestOf(%s)', (ref, digests, want) => {
    expect(repoDigestOf(ref, digests)).toBe(want);
  });

  it.each([
    ['alpine:3.20', { 'docker.io/library/alpine:3.20': BASE }, BASE],
    ['alpine', { 'docker.io/library/alpine:latest': BASE }, BASE],
    ['acme/tools:1', { 'docker.io/acme/tools:1': BASE }, BASE],
    ['127.0.0.1:5000/base:1', { '127.0.0.1:5000/base:1': BASE, '127.0.0.1:5000/base:2': IMAGE }, BASE],
    ['127.0.0.1:5000/base:3', { '127.0.0.1:5000/base:1': BASE }, undefined],
    [`alpine@${IMAGE}`, {}, IMAGE],
  ])('resolvedDigestOf(%s), from what BuildKit printed', (ref, resolved, want) => {
    expect(resolvedDigestOf(ref, new Map(Object.entries(resolved)))).toBe(want);
  });

  it.each([
    ['a token', `x${TOKEN}y`, 'x***y'],
    ['nested', { a: [TOKEN, { b: TOKEN }] }, { a: ['***', { b: '***' }] }],
    ['nothing to hide', { a: 1 }, { a: 1 }],
  ])('redact: %s', (_n, value, want) => {
    expect(redact(value, [TOKEN, ''])).toEqual(want);
  });
});

describe("BuildKit's attestation layout", () => {
  it('an attestation manifest: unknown/unknown config, one in-toto layer with its predicate type', () => {
    const statement = { predicateType: 'https://slsa.dev/provenance/v0.2', subject: [] };
    const att = attestationManifest(statement);
    const m = JSON.parse(att.body.toString());
    const sha = (b: Buffer) => `sha256:${createHash('sha256').update(b).digest('hex')}`;
    expect(att.digest).toBe(sha(att.body));
    expect(m.mediaType).toBe('application/vnd.oci.image.manifest.v1+json');
    expect(m.layers).toEqual([
      {
        mediaType: 'application/vnd.in-toto+json',
        digest: att.statementDigest,
        size: att.blobs[1]!.size,
        annotations: { 'in-toto.io/predicate-type': 'https://slsa.dev/provenance/v0.2' },
      },
    ]);
    const config = JSON.parse(att.blobs[0]!.bytes.toString());
    expect(config).toEqual({
      architecture: 'unknown',
      os: 'unknown',
      config: {},
      rootfs: { type: 'layers', diff_ids: [att.statementDigest] },
    });
    for (const b of att.blobs) expect(sha(b.bytes)).toBe(b.digest);
    expect(JSON.parse(att.blobs[1]!.bytes.toString())).toEqual(statement);
  });

  it('index entries: attestations after the images, each naming its image, platform unknown/unknown', () => {
    const M = 'application/vnd.oci.image.manifest.v1+json';
    const a1 = attestationEntry({ digest: `sha256:${'a'.repeat(64)}`, size: 9 }, IMAGE);
    const a2 = attestationEntry({ digest: `sha256:${'b'.repeat(64)}`, size: 9 }, BASE);
    expect(isAttestationEntry(a1)).toBe(true);
    const index = JSON.parse(
      buildImageIndex([
        { digest: IMAGE, size: 5, mediaType: M, platform: { os: 'linux', architecture: 'amd64' } },
        a1,
        { digest: BASE, size: 5, mediaType: M, platform: { os: 'linux', architecture: 'arm64' } },
        a2,
      ]).body.toString(),
    );
    expect(index.manifests.map((m: any) => m.platform.architecture)).toEqual([
      'amd64',
      'arm64',
      'unknown',
      'unknown',
    ]);
    expect(index.manifests[2].annotations).toEqual({
      'vnd.docker.reference.digest': IMAGE,
      'vnd.docker.reference.type': 'attestation-manifest',
    });
  });
});
