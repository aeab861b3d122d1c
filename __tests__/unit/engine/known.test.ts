import { describe, expect, it } from '@jest/globals';
import { findKnownLayers, layersByDiffId, pickPlatform, reuseSources } from '../../../src/engine/known.js';
import type { Logger } from '../../../src/log.js';
import { digestOf, MemoryRegistry } from './fakeregistry.js';

const GZ = 'application/vnd.docker.image.rootfs.diff.tar.gzip';

describe('reuseSources: which manifests may share layers', () => {
  const targets = [
    { registry: 'ghcr.io', repository: 'acme/api', tags: ['pr-7', 'sha-abc1234'] },
    { registry: 'docker.io', repository: 'acme/api', tags: ['pr-7', 'sha-abc1234'] },
  ];
  it.each([
    {
      name: 'the base first, then each target tag, default branch and latest',
      base: 'ghcr.io/acme/base:1',
      branch: 'main',
      tagged: true,
      want: [
        'ghcr.io/acme/base:1 base',
        'ghcr.io/acme/api:pr-7',
        'ghcr.io/acme/api:sha-abc1234',
        'ghcr.io/acme/api:main',
        'ghcr.io/acme/api:latest',
        'docker.io/acme/api:pr-7',
        'docker.io/acme/api:sha-abc1234',
        'docker.io/acme/api:main',
        'docker.io/acme/api:latest',
      ],
    },
    {
      name: 'a one-word Docker Hub base gets library/, a bare one its latest tag',
      base: 'node',
      branch: '',
      tagged: false,
      targets: [],
      want: ['docker.io/library/node:latest base'],
    },
    {
      name: 'a base by digest is read by digest',
      base: `alpine@sha256:${'a'.repeat(64)}`,
      branch: '',
      tagged: false,
      targets: [],
      want: [`docker.io/library/alpine:sha256:${'a'.repeat(64)} base`],
    },
    {
      name: 'a default branch that is no valid tag is left out',
      base: undefined,
      branch: 'release/v2',
      tagged: false,
      want: ['ghcr.io/acme/api:latest', 'docker.io/acme/api:latest'],
    },
  ])('$name', ({ base, branch, tagged, targets: only, want }) => {
    const t = only ?? targets.map((x) => ({ ...x, tags: tagged ? x.tags : [] }));
    const got = reuseSources(t, branch, base).map(
      (s) => `${s.registry}/${s.repository}:${s.ref}${s.base ? ' base' : ''}`,
    );
    expect(got).toEqual(want);
  });
});

describe('pickPlatform: the image of an index for the local platform', () => {
  const index = {
    manifests: [
      { digest: 'sha256:amd', platform: { os: 'linux', architecture: 'amd64' } },
      { digest: 'sha256:armv7', platform: { os: 'linux', architecture: 'arm', variant: 'v7' } },
      { digest: 'sha256:arm64', platform: { os: 'linux', architecture: 'arm64', variant: 'v8' } },
      { digest: 'sha256:att', platform: { os: 'unknown', architecture: 'unknown' } },
    ],
  };
  it.each([
    [{ os: 'linux', architecture: 'amd64' }, 'sha256:amd'],
    [{ os: 'linux', architecture: 'arm', variant: 'v7' }, 'sha256:armv7'],
    [{ os: 'linux', architecture: 'arm64' }, 'sha256:arm64'],
    [{ os: 'linux', architecture: 'arm', variant: 'v6' }, undefined],
    [{ os: 'windows', architecture: 'amd64' }, undefined],
  ])('%j -> %s', (platform, want) => {
    expect(pickPlatform(index, platform)).toBe(want);
  });
});

describe('layersByDiffId: diff_ids line up with the manifest layers', () => {
  const layers = [
    { mediaType: GZ, digest: 'sha256:l1', size: 10 },
    { mediaType: 'application/vnd.oci.image.layer.v1.tar+gzip', digest: 'sha256:l2', size: 20 },
  ];
  it.each([
    {
      name: 'aligned',
      layers,
      diffIds: ['sha256:d1', 'sha256:d2'],
      want: ['sha256:d1=sha256:l1', 'sha256:d2=sha256:l2'],
    },
    { name: 'a count mismatch maps nothing', layers, diffIds: ['sha256:d1'], want: [] },
    {
      name: 'foreign layers (urls) are not reused',
      layers: [{ ...layers[0]!, urls: ['https://x'] }, layers[1]!],
      diffIds: ['sha256:d1', 'sha256:d2'],
      want: ['sha256:d2=sha256:l2'],
    },
    {
      name: 'unknown media types are not reused',
      layers: [{ ...layers[0]!, mediaType: 'application/x-custom' }, layers[1]!],
      diffIds: ['sha256:d1', 'sha256:d2'],
      want: ['sha256:d2=sha256:l2'],
    },
  ])('$name', ({ layers: l, diffIds, want }) => {
    const got = [...layersByDiffId({ layers: l }, { rootfs: { diff_ids: diffIds } }).values()].map(
      (x) => `${x.diffId}=${x.digest}`,
    );
    expect(got).toEqual(want);
  });
});

const logger = () => {
  const lines: string[] = [];
  const log: Logger = {
    debug: () => undefined,
    info: (m) => lines.push(m),
    warning: (m) => lines.push(`W ${m}`),
  };
  return { log, lines };
};

describe('findKnownLayers', () => {
  const platform = { os: 'linux', architecture: 'amd64' };
  it('maps the base and earlier pushes by diff_id; the base blob wins; an unreadable base is one warning', async () => {
    const hub = new MemoryRegistry('reg.example');
    const other = new MemoryRegistry('other.example');
    const clients = (r: string) => (r === hub.registry ? hub : other).client();
    const [d1, d2, d3] = ['sha256:d1', 'sha256:d2', 'sha256:d3'];
    hub.putImage('acme/base', '1', [Buffer.from('L1'), Buffer.from('L2')], [d1, d2]);
    // The same diff_id under another digest (compressed again by someone) in the target repo.
    const { configDigest } = other.putImage(
      'acme/api',
      'main',
      [Buffer.from('L1-other'), Buffer.from('L2'), Buffer.from('L3')],
      [d1, d2, d3],
    );
    const { log, lines } = logger();
    const sources = [
      { registry: 'reg.example', repository: 'acme/base', ref: '1', base: true },
      { registry: 'other.example', repository: 'acme/api', ref: 'main' },
      { registry: 'other.example', repository: 'acme/api', ref: 'pr-1' },
    ];
    const known = await findKnownLayers(sources, [d1, d2, d3, 'sha256:d4'], { clients, platform, log });
    expect(known.layers.get(d1)).toMatchObject({
      digest: digestOf('L1'),
      from: [{ registry: 'reg.example', repository: 'acme/base' }],
    });
    expect(known.layers.get(d2)!.from).toEqual([
      { registry: 'reg.example', repository: 'acme/base' },
      { registry: 'other.example', repository: 'acme/api' },
    ]);
    expect(known.layers.get(d3)).toMatchObject({ digest: digestOf('L3'), size: 2, mediaType: GZ });
    expect(known.layers.has('sha256:d4')).toBe(false);
    expect(known.images.get(configDigest)).toMatchObject({
      from: [{ registry: 'other.example', repository: 'acme/api' }],
    });
    expect(lines).toEqual([]); // a missing pr-1 tag is nothing to say

    hub.denied.add('acme/base');
    const again = await findKnownLayers(sources, [d1, d2, d3], { clients, platform, log });
    expect(again.layers.get(d1)!.digest).toBe(digestOf('L1-other'));
    expect(lines).toHaveLength(1);
    expect(lines[0]).toMatch(
      /^W Base image reg\.example\/acme\/base:1 could not be read \(.*denied.*\); its layers are uploaded instead of reused\.$/,
    );
  });

  it.each([
    {
      name: 'a base config the daemon does not hold is read from the registry',
      daemon: false,
      calls: ['GET manifest acme/base:1', 'GET blob acme/base@<config>'],
    },
    {
      name: "a base config the daemon holds is not read: its diff_ids come from the daemon's inspect",
      daemon: true,
      calls: ['GET manifest acme/base:1'],
    },
  ])('the base is read with one GET by tag (no HEAD first); $name', async ({ daemon, calls }) => {
    const reg = new MemoryRegistry('reg.example');
    const { configDigest } = reg.putImage('acme/base', '1', [Buffer.from('B1')], ['sha256:b1']);
    const known = await findKnownLayers(
      [{ registry: 'reg.example', repository: 'acme/base', ref: '1', base: true }],
      ['sha256:b1', 'sha256:app'],
      {
        clients: () => reg.client(),
        platform,
        log: logger().log,
        localDiffIds: async (c) => (daemon && c === configDigest ? ['sha256:b1'] : undefined),
      },
    );
    expect(known.layers.get('sha256:b1')!.digest).toBe(digestOf('B1'));
    expect(reg.calls).toEqual(calls.map((c) => c.replace('<config>', configDigest)));
  });

  it('follows an index to the manifest of the local platform', async () => {
    const reg = new MemoryRegistry('reg.example');
    const { manifest } = reg.putImage('library/node', 'amd', [Buffer.from('N1')], ['sha256:n1']);
    const index = Buffer.from(
      JSON.stringify({
        schemaVersion: 2,
        mediaType: 'application/vnd.oci.image.index.v1+json',
        manifests: [
          { digest: 'sha256:' + 'f'.repeat(64), size: 1, platform: { os: 'linux', architecture: 'arm64' } },
          { digest: manifest.digest, size: manifest.body.length, platform },
        ],
      }),
    );
    const indexManifest = {
      body: index,
      mediaType: 'application/vnd.oci.image.index.v1+json',
      digest: digestOf(index),
    };
    reg.manifests.set('library/node:20', indexManifest);
    reg.manifests.set(`library/node:${indexManifest.digest}`, indexManifest);
    const known = await findKnownLayers(
      [{ registry: 'reg.example', repository: 'library/node', ref: '20', base: true }],
      ['sha256:n1'],
      { clients: () => reg.client(), platform, log: logger().log },
    );
    expect(known.layers.get('sha256:n1')!.digest).toBe(digestOf('N1'));
  });
});
