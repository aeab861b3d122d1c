/**
 * SLSA provenance in BuildKit's layout, read back with the test's own registry reads and skopeo:
 * the tags name an OCI index of the image manifest(s) and, for each, an attestation manifest
 * whose in-toto statement has that image manifest as subject.
 */
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import * as path from 'node:path';
import { beforeAll, describe, expect, it } from '@jest/globals';
import {
  events,
  expectNoLeak,
  makeContext,
  RegistryProbe,
  runAction,
  secretForms,
  SHA,
  twoRegistries,
  type Env,
} from './harness.js';
import { REGISTRY_KINDS, registryAuthFor, registryOfKind, type RegistryUnderTest } from './registries.js';
import { Skopeo } from './skopeo.js';

let bed: Env;
let reg2: RegistryProbe;
let secrets: string[];
let skopeo: Skopeo;
/** The registry each flow pushes to first (htpasswd reg1 or the token registry), reg2 beside it. */
let reg: RegistryUnderTest;

beforeAll(() => {
  ({ bed, reg2, secrets } = twoRegistries());
  skopeo = new Skopeo(bed);
});

/** The runner's variables a real workflow run has (the harness leaves them out). */
const RUN_ENV = {
  GITHUB_RUN_ID: '4242',
  GITHUB_RUN_ATTEMPT: '2',
  GITHUB_WORKFLOW_REF: 'acme/api/.github/workflows/release.yml@refs/tags/v1.2.3',
  GITHUB_WORKFLOW_SHA: SHA,
  // `uses: someone/publish-image@v1`: the buildType names that repository at that ref.
  GITHUB_ACTION_REPOSITORY: 'someone/publish-image',
  GITHUB_ACTION_REF: 'v1',
};
const BUILD_TYPE = 'https://github.com/someone/publish-image/blob/v1/README.md#provenance';
const IN_TOTO = 'application/vnd.in-toto+json';
const SLSA02 = 'https://slsa.dev/provenance/v0.2';

function publish(repo: string, inputs: Record<string, string>, tag = 'v1.2.3') {
  return runAction({
    event: events.tag(tag),
    secrets: [...secrets, ...secretForms(reg.user, reg.pass)],
    env: RUN_ENV,
    inputs: {
      images: `${reg.host}/${repo}\n${bed.reg2}/${repo}`,
      'registry-auth': registryAuthFor([reg, { host: bed.reg2, user: bed.reg2User, pass: bed.reg2Pass }]),
      ...inputs,
    },
  });
}

interface Attested {
  index: Record<string, any>;
  images: Record<string, any>[];
  attestations: Record<string, any>[];
}

/** The index under `ref`, split into image entries and attestation entries. */
async function indexOf(probe: RegistryProbe, repo: string, ref: string): Promise<Attested> {
  const index = (await probe.manifest(repo, ref))!.body;
  expect(index.mediaType).toBe('application/vnd.oci.image.index.v1+json');
  const isAtt = (m: any) => m.annotations?.['vnd.docker.reference.type'] === 'attestation-manifest';
  return {
    index,
    images: index.manifests.filter((m: any) => !isAtt(m)),
    attestations: index.manifests.filter(isAtt),
  };
}

/** Checks BuildKit's layout for one attestation entry and returns its statement. */
async function statementOf(probe: RegistryProbe, repo: string, entry: any, image: any) {
  expect(entry.platform).toEqual({ architecture: 'unknown', os: 'unknown' });
  expect(entry.annotations['vnd.docker.reference.digest']).toBe(image.digest);
  const att = (await probe.manifest(repo, entry.digest))!;
  expect(att.digest).toBe(entry.digest);
  expect(att.body.layers).toHaveLength(1);
  const [layer] = att.body.layers;
  expect(layer.mediaType).toBe(IN_TOTO);
  expect(layer.annotations['in-toto.io/predicate-type']).toBe(SLSA02);
  const config = await probe.blobJson(repo, att.body.config.digest);
  expect(config).toMatchObject({ architecture: 'unknown', os: 'unknown' });
  const statement = await probe.blobJson(repo, layer.digest);
  expect(statement._type).toBe('https://in-toto.io/Statement/v0.1');
  expect(statement.predicateType).toBe(SLSA02);
  expect(statement.subject.length).toBeGreaterThan(0);
  for (const s of statement.subject) expect(`sha256:${s.digest.sha256}`).toBe(image.digest);
  return statement;
}

/** Every blob and manifest reachable from `ref`, as bytes. */
async function everythingUnder(probe: RegistryProbe, repo: string, ref: string): Promise<Buffer[]> {
  const out: Buffer[] = [];
  const { index } = await indexOf(probe, repo, ref);
  out.push(Buffer.from(JSON.stringify(index)));
  for (const m of index.manifests) {
    const body = (await probe.manifest(repo, m.digest))!.body;
    out.push(Buffer.from(JSON.stringify(body)));
    for (const b of [body.config, ...body.layers]) out.push(await probe.blob(repo, b.digest));
  }
  return out;
}

describe.each(REGISTRY_KINDS)('provenance: true on a release (%s registry first)', (kind) => {
  beforeAll(() => {
    reg = registryOfKind(bed, kind);
  });

  it('tags an index of the image and its attestation, whose statement is about that image', async () => {
    const repo = reg.repo('prov');
    const r = await publish(repo, {
      context: makeContext(4096),
      provenance: 'true',
      'build-args': 'API_URL=https://api.example.com\nLOOKS_SECRET=hunter2-but-public',
    });
    expect(r.code).toBe(0);
    const { index, images, attestations } = await indexOf(reg.probe, repo, '1.2.3');
    expect(r.outputs.digest).toBe((await reg.probe.manifest(repo, '1.2.3'))!.digest);
    expect((await reg2.manifest(repo, 'latest'))!.digest).toBe(r.outputs.digest);
    expect(images).toHaveLength(1);
    expect(images[0].platform).toMatchObject({ os: 'linux', architecture: 'amd64' });
    expect(attestations).toHaveLength(1);
    expect(index.manifests[1]).toEqual(attestations[0]); // after the image, as BuildKit orders them
    const meta = JSON.parse(r.outputs.metadata);
    expect(meta.platforms).toEqual({ 'linux/amd64': images[0].digest });
    expect(meta.attestations).toEqual({ 'linux/amd64': attestations[0].digest });

    const statement = await statementOf(reg.probe, repo, attestations[0], images[0]);
    const names = statement.subject.map((s: any) => s.name);
    expect(names).toContain(`pkg:docker/${reg.host}/${repo}@1.2.3?platform=linux%2Famd64`);
    expect(names).toContain(`pkg:docker/${bed.reg2}/${repo}@latest?platform=linux%2Famd64`);
    const p = statement.predicate;
    expect(p.builder.id).toBe('https://github.com/acme/api/actions/runs/4242/attempts/2');
    expect(p.buildType).toBe(BUILD_TYPE);
    expect(p.invocation.configSource).toMatchObject({
      uri: 'https://github.com/acme/api.git#refs/tags/v1.2.3',
      digest: { sha1: SHA },
      entryPoint: expect.stringMatching(/Dockerfile$/),
    });
    expect(p.invocation.environment).toMatchObject({
      github_repository: 'acme/api',
      github_sha: SHA,
      github_event_name: 'push',
      github_workflow: '.github/workflows/release.yml',
      github_workflow_ref: RUN_ENV.GITHUB_WORKFLOW_REF,
    });
    expect(p.metadata['https://mobyproject.org/buildkit@v1#metadata'].vcs).toEqual({
      source: 'https://github.com/acme/api',
      revision: SHA,
    });
    expect(Date.parse(p.metadata.buildStartedOn)).toBeLessThanOrEqual(Date.parse(p.metadata.buildFinishedOn));
    expect(p.materials).toContainEqual({
      uri: 'https://github.com/acme/api.git#refs/tags/v1.2.3',
      digest: { sha1: SHA },
    });
    // mode=min, BuildKit's way: no build arguments, no labels, no buildConfig.
    expect(Object.keys(p.invocation.parameters.args).filter((k) => /^(build-arg|label):/.test(k))).toEqual(
      [],
    );
    expect(p.buildConfig).toBeUndefined();
    expect(p.metadata.completeness.parameters).toBe(false);

    // No form of either registry token in anything that was pushed.
    for (const bytes of await everythingUnder(reg2, repo, '1.2.3')) {
      for (const s of secrets) expect(bytes.toString('latin1')).not.toContain(s);
    }
    // skopeo still pulls the amd64 image whole through the index.
    const dir = await skopeo.fetch(`${reg.host}/${repo}:1.2.3`, 'amd64');
    const manifest = readFileSync(path.join(dir, 'manifest.json'));
    expect(`sha256:${createHash('sha256').update(manifest).digest('hex')}`).toBe(images[0].digest);
    expect(r.summary).toMatch(/\*\*Provenance:\*\* attached \(SLSA v0\.2, mode=min\)/);
    expectNoLeak(r, secrets);
  });

  it('mode=max adds the build arguments, labels, build parameters and the Dockerfile digest', async () => {
    const repo = reg.repo('provmax');
    const context = makeContext(1024, 'FROM scratch\nARG API_URL\nLABEL api=$API_URL\nCOPY payload.bin /p\n');
    const r = await publish(repo, {
      context,
      provenance: 'mode=max',
      target: '',
      'build-args': 'API_URL=https://api.example.com',
    });
    expect(r.code).toBe(0);
    const { images, attestations } = await indexOf(reg.probe, repo, '1.2.3');
    const p = (await statementOf(reg.probe, repo, attestations[0], images[0])).predicate;
    expect(p.invocation.parameters.args).toMatchObject({
      'build-arg:API_URL': 'https://api.example.com',
      'label:org.opencontainers.image.revision': SHA,
    });
    const dockerfile = readFileSync(path.join(context, 'Dockerfile'));
    expect(p.buildConfig.dockerfile.digest.sha256).toBe(
      createHash('sha256').update(dockerfile).digest('hex'),
    );
    expect(p.metadata.completeness.parameters).toBe(true);
    expect(r.summary).toContain('mode=max');
    for (const bytes of await everythingUnder(reg.probe, repo, '1.2.3'))
      for (const s of secrets) expect(bytes.toString('latin1')).not.toContain(s);
  });

  it('names each base image with the digest it was pulled by (multi-stage, pull, one platform)', async () => {
    const baseRepo = reg.repo('provbase');
    const base = await publish(baseRepo, { source: 'local/busybox' }, 'v1.0.0');
    expect(base.code).toBe(0);
    const baseRef = `${reg.host}/${baseRepo}:1.0.0`;
    const repo = reg.repo('provfrom');
    const dockerfile = `FROM ${baseRef} AS tools\nFROM scratch\nLABEL x=y\nCOPY --from=tools /bin/busybox /busybox\n`;
    const r = await publish(repo, {
      context: makeContext(16, dockerfile),
      platforms: 'linux/amd64',
      pull: 'true',
      provenance: 'mode=max',
    });
    expect(r.code).toBe(0);
    const { images, attestations } = await indexOf(reg.probe, repo, '1.2.3');
    const p = (await statementOf(reg.probe, repo, attestations[0], images[0])).predicate;
    expect(p.materials).toContainEqual({
      uri: `pkg:docker/${reg.host}/${baseRepo}@1.0.0?platform=linux%2Famd64`,
      digest: { sha256: base.outputs.digest.replace('sha256:', '') },
    });
    expect((await skopeo.config(`${reg.host}/${repo}:1.2.3`, 'amd64')).config.Labels.x).toBe('y');
  });

  it('a push of the same image again finds its layers through the attested index and sends none', async () => {
    const repo = reg.repo('provagain');
    const context = makeContext(300_000);
    const first = await publish(repo, { context, provenance: 'true' }, 'v1.2.3');
    expect(first.code).toBe(0);
    expect(first.log).not.toContain('already holds');
    const again = await publish(repo, { context, provenance: 'true' }, 'v1.2.3');
    expect(again.code).toBe(0);
    expect(again.log).toContain('every registry already holds 1 of the layers');
    const { images, attestations } = await indexOf(reg.probe, repo, '1.2.3');
    expect(images).toHaveLength(1);
    expect(attestations).toHaveLength(1);
  });

  it('version=v1 writes SLSA v1 in an in-toto Statement v1, same layout', async () => {
    const repo = reg.repo('provv1');
    const r = await publish(repo, { context: makeContext(512), provenance: 'mode=min,version=v1' });
    expect(r.code).toBe(0);
    const { images, attestations } = await indexOf(reg.probe, repo, '1.2.3');
    const att = (await reg.probe.manifest(repo, attestations[0].digest))!.body;
    expect(att.layers[0].annotations['in-toto.io/predicate-type']).toBe('https://slsa.dev/provenance/v1');
    const statement = await reg.probe.blobJson(repo, att.layers[0].digest);
    expect(statement._type).toBe('https://in-toto.io/Statement/v1');
    expect(statement.subject[0].digest.sha256).toBe(images[0].digest.replace('sha256:', ''));
    expect(statement.predicate.runDetails.builder.id).toBe(
      'https://github.com/acme/api/actions/runs/4242/attempts/2',
    );
    expect(statement.predicate.buildDefinition.externalParameters.workflow.path).toBe(
      '.github/workflows/release.yml',
    );
    expect(statement.predicate.buildDefinition.buildType).toBe(BUILD_TYPE);
    expect(r.summary).toContain('SLSA v1, mode=min');
  });

  it('without the input nothing changes: the tag names the image manifest itself', async () => {
    const repo = reg.repo('noprov');
    const r = await publish(repo, { context: makeContext(2048) });
    expect(r.code).toBe(0);
    const held = (await reg.probe.manifest(repo, '1.2.3'))!;
    expect(held.body.mediaType).toBe('application/vnd.docker.distribution.manifest.v2+json');
    expect(held.digest).toBe(r.outputs.digest);
    expect(JSON.parse(r.outputs.metadata).attestations).toEqual({});
    expect(r.summary).toContain('**Provenance:** not attached');
  });

  it('refuses a provenance value that means nothing, naming the input, before any work', async () => {
    const repo = reg.repo('provbad');
    const r = await publish(repo, { context: makeContext(), provenance: 'mode=maximum' });
    expect(r.code).not.toBe(0);
    expect(r.log).not.toContain('Logged in to');
    expect(await reg.probe.tags(repo)).toEqual([]);
    expect(r.log).toMatch(
      /::error::Input "provenance": must be false, true, mode=min or mode=max.*mode=maximum/,
    );
  });
});

describe.each(REGISTRY_KINDS)('provenance with several platforms (%s registry first)', (kind) => {
  beforeAll(() => {
    reg = registryOfKind(bed, kind);
  });

  it('a multi-platform index carries one attestation per platform image', async () => {
    const repo = reg.repo('provmulti');
    const r = await publish(repo, {
      context: makeContext(2048),
      platforms: 'linux/amd64,linux/arm64',
      provenance: 'true',
    });
    expect(r.code).toBe(0);
    for (const probe of [reg.probe, reg2]) {
      const { images, attestations } = await indexOf(probe, repo, '1.2.3');
      expect(images.map((m) => m.platform.architecture).sort()).toEqual(['amd64', 'arm64']);
      expect(attestations).toHaveLength(2);
      for (const image of images) {
        const att = attestations.find((a) => a.annotations['vnd.docker.reference.digest'] === image.digest);
        const statement = await statementOf(probe, repo, att, image);
        expect(statement.subject[0].name).toContain(`platform=linux%2F${image.platform.architecture}`);
      }
    }
    for (const arch of ['amd64', 'arm64']) {
      const config = await skopeo.config(`${bed.reg2}/${repo}:1.2.3`, arch);
      expect(config.architecture).toBe(arch);
    }
    expect(Object.keys(JSON.parse(r.outputs.metadata).attestations).sort()).toEqual([
      'linux/amd64',
      'linux/arm64',
    ]);
  });

  it('push-by-digest legs with provenance merge into one index with every attestation', async () => {
    const repo = reg.repo('provmerge');
    const context = makeContext(2048);
    const legs: string[] = [];
    for (const platform of ['linux/amd64', 'linux/arm64']) {
      const leg = await publish(repo, {
        context,
        platforms: platform,
        'push-by-digest': 'true',
        provenance: 'true',
      });
      expect(leg.code).toBe(0);
      // The leg's digest names its own index: the image and its attestation.
      const { images, attestations } = await indexOf(reg.probe, repo, leg.outputs.digest);
      expect(images).toHaveLength(1);
      const statement = await statementOf(reg.probe, repo, attestations[0], images[0]);
      expect(statement.subject.map((s: any) => s.name)).toContain(
        `pkg:docker/${reg.host}/${repo}?platform=${encodeURIComponent(platform)}`,
      );
      legs.push(leg.outputs.digest);
    }
    const merged = await publish(repo, { 'merge-digests': legs.join('\n'), provenance: 'true' });
    expect(merged.code).toBe(0);
    expect(merged.log).not.toContain('without it');
    for (const probe of [reg.probe, reg2]) {
      const { images, attestations } = await indexOf(probe, repo, '1.2.3');
      expect(images.map((m) => m.platform.architecture).sort()).toEqual(['amd64', 'arm64']);
      expect(attestations).toHaveLength(2);
      for (const image of images) {
        const att = attestations.find((a) => a.annotations['vnd.docker.reference.digest'] === image.digest);
        await statementOf(probe, repo, att, image);
      }
    }
    const meta = JSON.parse(merged.outputs.metadata);
    expect(Object.keys(meta.platforms).sort()).toEqual(['linux/amd64', 'linux/arm64']);
    expect(Object.keys(meta.attestations).sort()).toEqual(['linux/amd64', 'linux/arm64']);
    expect(merged.summary).toContain('**Provenance:** attached');
    const config = await skopeo.config(`${reg.host}/${repo}:1.2.3`, 'arm64');
    expect(config.architecture).toBe('arm64');
  });

  it('a merge asked for provenance whose legs have none says so, and attaches nothing', async () => {
    const repo = reg.repo('provbare');
    const context = makeContext(1024);
    const legs: string[] = [];
    for (const platform of ['linux/amd64', 'linux/arm64']) {
      const leg = await publish(repo, { context, platforms: platform, 'push-by-digest': 'true' });
      expect(leg.code).toBe(0);
      legs.push(leg.outputs.digest);
    }
    const merged = await publish(repo, { 'merge-digests': legs.join('\n'), provenance: 'true' });
    expect(merged.code).toBe(0);
    expect(merged.log).toMatch(
      /::warning::provenance is on, but the per-platform jobs pushed linux\/amd64, linux\/arm64 without it/,
    );
    expect((await indexOf(reg.probe, repo, '1.2.3')).attestations).toEqual([]);
    expect(merged.summary).toContain('**Provenance:** asked for, but none was attached');
  });
});
