import { describe, expect, it } from '@jest/globals';
import { createHash } from 'node:crypto';
import {
  dockerManifestToOci,
  buildImageIndex,
  parsePlatform,
  platformOfConfig,
  platformString,
} from '../../../src/registry/oci.js';

const d = (c: string) => `sha256:${c.repeat(64)}`;
const M = 'application/vnd.oci.image.manifest.v1+json';

describe('buildImageIndex', () => {
  it('lists each manifest with its platform, in order, and digests the exact bytes', () => {
    const index = buildImageIndex(
      [
        { digest: d('a'), size: 500, mediaType: M, platform: { os: 'linux', architecture: 'amd64' } },
        {
          digest: d('b'),
          size: 501,
          mediaType: M,
          platform: { os: 'linux', architecture: 'arm', variant: 'v7' },
        },
      ],
      { 'org.opencontainers.image.revision': 'abc' },
    );
    const parsed = JSON.parse(index.body.toString());
    expect(parsed).toEqual({
      schemaVersion: 2,
      mediaType: 'application/vnd.oci.image.index.v1+json',
      manifests: [
        { mediaType: M, digest: d('a'), size: 500, platform: { architecture: 'amd64', os: 'linux' } },
        {
          mediaType: M,
          digest: d('b'),
          size: 501,
          platform: { architecture: 'arm', os: 'linux', variant: 'v7' },
        },
      ],
      annotations: { 'org.opencontainers.image.revision': 'abc' },
    });
    expect(index.mediaType).toBe('application/vnd.oci.image.index.v1+json');
    expect(index.size).toBe(index.body.length);
    expect(index.digest).toBe(`sha256:${createHash('sha256').update(index.body).digest('hex')}`);
  });

  it('leaves annotations out when there are none', () => {
    const index = buildImageIndex([
      { digest: d('a'), size: 1, mediaType: M, platform: { os: 'linux', architecture: 'amd64' } },
    ]);
    expect(JSON.parse(index.body.toString())).not.toHaveProperty('annotations');
  });

  it.each([
    ['no manifests', [], /at least one/],
    [
      'the same platform twice',
      [
        { digest: d('a'), size: 1, mediaType: M, platform: { os: 'linux', architecture: 'amd64' } },
        { digest: d('b'), size: 1, mediaType: M, platform: { os: 'linux', architecture: 'amd64' } },
      ],
      /two manifests for platform linux\/amd64/,
    ],
    [
      'a malformed digest',
      [{ digest: 'sha256:xyz', size: 1, mediaType: M, platform: { os: 'linux', architecture: 'amd64' } }],
      /invalid manifest digest/,
    ],
  ])('rejects %s', (_what, entries, error) => {
    expect(() => buildImageIndex(entries)).toThrow(error);
  });
});

describe('platforms', () => {
  it.each([
    [
      { os: 'linux', architecture: 'amd64', rootfs: {} },
      { os: 'linux', architecture: 'amd64' },
    ],
    [
      { os: 'linux', architecture: 'arm', variant: 'v7' },
      { os: 'linux', architecture: 'arm', variant: 'v7' },
    ],
    [
      { os: 'windows', architecture: 'amd64', 'os.version': '10.0.17763.1' },
      { os: 'windows', architecture: 'amd64', 'os.version': '10.0.17763.1' },
    ],
  ])('platformOfConfig(%j)', (config, expected) => {
    expect(platformOfConfig(config)).toEqual(expected);
    expect(platformOfConfig(Buffer.from(JSON.stringify(config)))).toEqual(expected);
  });

  it('platformOfConfig rejects a config without architecture', () => {
    expect(() => platformOfConfig({ os: 'linux' })).toThrow(/os\/architecture/);
  });

  it.each([
    ['linux/amd64', { os: 'linux', architecture: 'amd64' }],
    ['linux/arm64/v8', { os: 'linux', architecture: 'arm64', variant: 'v8' }],
  ])('parsePlatform(%s) round-trips', (text, p) => {
    expect(parsePlatform(text)).toEqual(p);
    expect(platformString(p)).toBe(text);
  });

  it.each([['linux'], ['linux//v7'], ['a/b/c/d']])('parsePlatform rejects %s', (text) => {
    expect(() => parsePlatform(text)).toThrow(/invalid platform/);
  });
});

describe('dockerManifestToOci (for registries that take no Docker types, like zot)', () => {
  const layer = (mediaType: string, n: number) => ({
    mediaType,
    size: n,
    digest: `sha256:${String(n).repeat(64).slice(0, 64)}`,
  });
  const docker = {
    schemaVersion: 2,
    mediaType: 'application/vnd.docker.distribution.manifest.v2+json',
    config: {
      mediaType: 'application/vnd.docker.container.image.v1+json',
      size: 7,
      digest: `sha256:${'c'.repeat(64)}`,
    },
    layers: [
      layer('application/vnd.docker.image.rootfs.diff.tar.gzip', 1),
      layer('application/vnd.docker.image.rootfs.diff.tar', 2),
      layer('application/vnd.oci.image.layer.v1.tar+zstd', 3),
    ],
  };

  it('renames every Docker media type, keeps sizes and digests, and hashes the new bytes', () => {
    const out = dockerManifestToOci(Buffer.from(JSON.stringify(docker)));
    const parsed = JSON.parse(out.body.toString('utf8'));
    expect(out.mediaType).toBe('application/vnd.oci.image.manifest.v1+json');
    expect(parsed.mediaType).toBe(out.mediaType);
    expect(parsed.config).toEqual({
      ...docker.config,
      mediaType: 'application/vnd.oci.image.config.v1+json',
    });
    expect(parsed.layers.map((l: { mediaType: string }) => l.mediaType)).toEqual([
      'application/vnd.oci.image.layer.v1.tar+gzip',
      'application/vnd.oci.image.layer.v1.tar',
      'application/vnd.oci.image.layer.v1.tar+zstd',
    ]);
    expect(parsed.layers.map((l: { digest: string }) => l.digest)).toEqual(
      docker.layers.map((l) => l.digest),
    );
    expect(out.digest).toBe(`sha256:${createHash('sha256').update(out.body).digest('hex')}`);
  });

  it.each([
    ['an OCI manifest', { ...docker, mediaType: 'application/vnd.oci.image.manifest.v1+json' }],
    [
      'a Docker manifest list',
      { mediaType: 'application/vnd.docker.distribution.manifest.list.v2+json', manifests: [] },
    ],
    ['a manifest without mediaType', { schemaVersion: 2 }],
  ])('refuses %s', (_name, m) => {
    expect(() => dockerManifestToOci(Buffer.from(JSON.stringify(m)))).toThrow(/not a Docker image manifest/);
  });
});
