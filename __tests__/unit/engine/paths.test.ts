import { describe, expect, it } from '@jest/globals';
import { pushedDigest } from '../../../src/docker/cli.js';
import { recompressed, registryCopy } from '../../../src/engine/daemonpush.js';
import { newReport } from '../../../src/engine/push.js';
import { ReuseLedger } from '../../../src/engine/reuse.js';
import { silentLogger } from '../../../src/log.js';
import { digestOf, MemoryRegistry } from './fakeregistry.js';
import type { KnownImage, KnownLayer } from '../../../src/engine/known.js';
import { choosePath, daemonKnownBytes, type LocalImage } from '../../../src/engine/paths.js';
import type { RegistryClient } from '../../../src/registry/client.js';

const MiB = 1024 * 1024;

describe('choosePath: the cheapest way out', () => {
  it.each([
    {
      name: 'the same image is in a registry: copied, nothing exported',
      facts: {
        layers: 3,
        knownLayers: 3,
        imageKnown: true,
        imageBytes: 100 * MiB,
        daemonKnownBytes: 99 * MiB,
      },
      want: 'registry copy',
    },
    {
      name: 'nothing known (FROM scratch, fresh layers): export',
      facts: { layers: 1, knownLayers: 0, imageKnown: false, imageBytes: 30 * MiB },
      want: 'export',
    },
    {
      name: 'a PR preview: 1 MiB on a 100 MiB base the daemon pulled: docker push',
      facts: {
        layers: 3,
        knownLayers: 2,
        imageKnown: false,
        imageBytes: 101 * MiB,
        daemonKnownBytes: 100 * MiB,
      },
      want: 'daemon push',
    },
    {
      name: 'half the image is new: export compresses it faster',
      facts: {
        layers: 3,
        knownLayers: 2,
        imageKnown: false,
        imageBytes: 200 * MiB,
        daemonKnownBytes: 100 * MiB,
      },
      want: 'export',
    },
    {
      name: 'a third new is still the daemon',
      facts: {
        layers: 3,
        knownLayers: 2,
        imageKnown: false,
        imageBytes: 150 * MiB,
        daemonKnownBytes: 100 * MiB,
      },
      want: 'daemon push',
    },
    {
      name: 'known layers the daemon has no record of (pushed by the action): export',
      facts: { layers: 3, knownLayers: 3, imageKnown: false, imageBytes: 100 * MiB },
      want: 'export',
    },
  ])('$name', ({ facts, want }) => {
    expect(choosePath(facts).path).toBe(want);
  });
});

const image = (diffIds: string[], size: number, repoDigests: string[] = []): LocalImage => ({
  id: 'sha256:img',
  diffIds,
  size,
  platform: { os: 'linux', architecture: 'amd64' },
  repoTags: [],
  repoDigests,
});
const knownOf = (diffIds: string[], digest = (d: string) => `sha256:blob-${d}`): KnownImage => ({
  layers: new Map(
    diffIds.map((d): [string, KnownLayer] => [
      d,
      { diffId: d, digest: digest(d), size: 1, mediaType: 'x', from: [] },
    ]),
  ),
  images: new Map(),
});

describe('daemonKnownBytes: the base bytes docker push finds by digest', () => {
  const app = image(['a', 'b', 'c'], 300);
  it.each([
    {
      name: 'pulled base, its layers first and known',
      base: image(['a', 'b'], 200, ['r/base@sha256:x']),
      known: ['a', 'b'],
      want: 200,
    },
    { name: 'no base in the daemon', base: undefined, known: ['a', 'b'], want: undefined },
    {
      name: 'a base built here, never pushed nor pulled',
      base: image(['a', 'b'], 200),
      known: ['a', 'b'],
      want: undefined,
    },
    {
      name: 'a base layer no registry holds',
      base: image(['a', 'b'], 200, ['r/base@sha256:x']),
      known: ['a'],
      want: undefined,
    },
    {
      name: 'another image than the base',
      base: image(['a', 'x'], 200, ['r/base@sha256:x']),
      known: ['a', 'x'],
      want: undefined,
    },
  ])('$name', ({ base, known, want }) => {
    expect(daemonKnownBytes(app, base, knownOf(known))).toBe(want);
  });
});

describe('after docker push', () => {
  it.each([
    ['latest: digest: sha256:' + 'a'.repeat(64) + ' size: 952', 'sha256:' + 'a'.repeat(64)],
    [
      'The push refers to repository [r/app]\nLayer already exists\npr-1: digest: sha256:' +
        'b'.repeat(64) +
        ' size: 1',
      'sha256:' + 'b'.repeat(64),
    ],
    ['no digest here', undefined],
  ])('pushedDigest(%j)', (out, want) => {
    expect(pushedDigest(out)).toBe(want);
  });

  const manifest = (digests: string[]) => {
    const body = Buffer.from(JSON.stringify({ layers: digests.map((digest) => ({ digest })) }));
    return { body, mediaType: 'application/vnd.docker.distribution.manifest.v2+json', digest: 'sha256:m' };
  };
  it.each([
    {
      name: 'known layers kept their digests',
      pushed: ['sha256:blob-a', 'sha256:blob-b', 'sha256:new'],
      want: [],
    },
    {
      name: 'the daemon compressed one again',
      pushed: ['sha256:blob-a', 'sha256:other', 'sha256:new'],
      want: ['b'],
    },
  ])('recompressed: $name', ({ pushed, want }) => {
    expect(recompressed(manifest(pushed), image(['a', 'b', 'c'], 3), knownOf(['a', 'b']))).toEqual(want);
  });
});

describe('registryCopy: an image a registry already holds, copied to every target', () => {
  it('copies blobs as they are and PUTs every tag; a target that lacks a blob fails alone', async () => {
    const r1 = new MemoryRegistry('r1');
    const r2 = new MemoryRegistry('r2');
    const r3 = new MemoryRegistry('r3');
    const regs: Record<string, MemoryRegistry> = { r1, r2, r3 };
    const { manifest, configDigest } = r1.putImage(
      'acme/api',
      'main',
      [Buffer.from('L1'), Buffer.from('L2')],
      ['sha256:d1', 'sha256:d2'],
    );
    r3.refuseUploads.add(digestOf('L2'));
    const targets = [
      { name: 'r1/acme/api', registry: 'r1', repository: 'acme/api', tags: ['pr-1', 'sha-1'] },
      { name: 'r2/acme/api', registry: 'r2', repository: 'acme/api', tags: ['pr-1'] },
      { name: 'r3/acme/api', registry: 'r3', repository: 'acme/api', tags: ['pr-1'] },
    ];
    const report = newReport();
    const ledger = new ReuseLedger();
    await registryCopy(
      { manifestDigest: manifest.digest, from: [{ registry: 'r1', repository: 'acme/api' }] },
      targets,
      {
        clients: (r) => regs[r]!.client(),
        log: silentLogger,
        ledger,
        tagsFinal: Promise.resolve(),
        dockerReady: Promise.resolve(),
        known: { layers: new Map(), images: new Map() },
      },
      report,
    );
    expect(Object.keys(report.digests)).toEqual([
      'r1/acme/api:pr-1',
      'r1/acme/api:sha-1',
      'r2/acme/api:pr-1',
    ]);
    expect(new Set(Object.values(report.digests))).toEqual(new Set([manifest.digest]));
    expect(report.failed).toEqual([
      { ref: 'r3/acme/api:pr-1', error: expect.stringContaining(digestOf('L2')) },
    ]);
    expect(r2.blobs.get('acme/api')!.has(configDigest)).toBe(true);
    expect(ledger.report().r2!.copied).toEqual({ layers: 2, bytes: 4 });
    expect(ledger.report().r1!.reused).toEqual({ layers: 2, bytes: 4 });
  });

  /** One registry's client for everything, nothing known beforehand. */
  const copyOptions = (client: RegistryClient) => ({
    clients: () => client,
    log: silentLogger,
    ledger: new ReuseLedger(),
    tagsFinal: Promise.resolve(),
    dockerReady: Promise.resolve(),
    known: { layers: new Map(), images: new Map() },
  });

  it('a manifest the same client PUT (a build labelled through the registry) is copied with no GET', async () => {
    const r1 = new MemoryRegistry('r1');
    const { manifest } = r1.putImage(
      'acme/api',
      'buildcache-branch-main',
      [Buffer.from('L1')],
      ['sha256:d1'],
    );
    const client = r1.client();
    const digest = await client.putManifest('acme/api', manifest.digest, manifest.body, manifest.mediaType);
    r1.calls.length = 0;
    const report = newReport();
    await registryCopy(
      { manifestDigest: digest, from: [{ registry: 'r1', repository: 'acme/api' }] },
      [{ name: 'r1/acme/api', registry: 'r1', repository: 'acme/api', tags: ['main', 'latest'] }],
      copyOptions(client),
      report,
    );
    expect(r1.calls).toEqual(['PUT manifest acme/api:main', 'PUT manifest acme/api:latest']);
    expect(report.digests).toEqual({ 'r1/acme/api:main': digest, 'r1/acme/api:latest': digest });
  });

  it('a manifest given with the source (its blobs there, itself not yet) is PUT under each tag, never read', async () => {
    const r1 = new MemoryRegistry('r1');
    const { manifest } = r1.putImage('acme/api', 'buildcache-pr-1', [Buffer.from('L1')], ['sha256:d1']);
    const body = Buffer.from(
      manifest.body.toString().replace('"schemaVersion"', '"note":"labelled","schemaVersion"'),
    );
    const labelled = { body, mediaType: manifest.mediaType, digest: digestOf(body.toString()) };
    r1.calls.length = 0;
    const report = newReport();
    await registryCopy(
      {
        manifestDigest: labelled.digest,
        from: [{ registry: 'r1', repository: 'acme/api' }],
        manifest: labelled,
      },
      [{ name: 'r1/acme/api', registry: 'r1', repository: 'acme/api', tags: ['pr-1'] }],
      copyOptions(r1.client()),
      report,
    );
    expect(r1.calls).toEqual(['PUT manifest acme/api:pr-1']);
    expect(report.digests).toEqual({ 'r1/acme/api:pr-1': labelled.digest });
  });
});
