import { describe, expect, it } from '@jest/globals';
import { createHash } from 'node:crypto';
import { Readable } from 'node:stream';
import { extract } from 'tar-stream';
import { configOnlyTar, labelDockerfile, labelledConfig, withConfig } from '../../../src/build/labels.js';
import { deletesAllowed, pushOutcomes } from '../../../src/build/relabel.js';
import type { RegistryClient } from '../../../src/registry/client.js';

const sha = (b: Buffer | string) => `sha256:${createHash('sha256').update(b).digest('hex')}`;
const built = {
  architecture: 'amd64',
  os: 'linux',
  created: '2026-12-01T10:00:00.123456789Z',
  config: { Cmd: ['sh'], Labels: { maintainer: 'acme', 'org.opencontainers.image.title': 'old' } },
  rootfs: { type: 'layers', diff_ids: ['sha256:aa', 'sha256:bb'] },
  history: [
    { created: '2026-11-01T00:00:00Z', created_by: 'ADD rootfs /' },
    { created: '2026-12-01T10:00:00.123456789Z', created_by: '/bin/sh -c make' },
  ],
};
const when = new Date('2026-12-06T07:00:00Z');

describe('labelledConfig: the labels a LABEL step would add, with no container', () => {
  const out = JSON.parse(
    labelledConfig(
      Buffer.from(JSON.stringify(built)),
      { 'org.opencontainers.image.title': 'api', x: 'a "b"' },
      when,
    ).toString(),
  );
  it.each([
    [
      'sets the labels over those of the same name, keeps the others',
      out.config.Labels,
      {
        maintainer: 'acme',
        'org.opencontainers.image.title': 'api',
        x: 'a "b"',
      },
    ],
    ['keeps the rest of the config as the builder wrote it', out.config.Cmd, ['sh']],
    ['keeps the layers', out.rootfs, built.rootfs],
    ['keeps every history entry, byte for byte', out.history.slice(0, 2), built.history],
    [
      'adds one history entry with no layer, saying what it set',
      out.history[2],
      {
        created: '2026-12-06T07:00:00.000Z',
        created_by: 'LABEL org.opencontainers.image.title="api" x="a \\"b\\""',
        comment: 'publish-image',
        empty_layer: true,
      },
    ],
    ['dates the image when it was labelled', out.created, '2026-12-06T07:00:00.000Z'],
    ['keeps the platform', [out.os, out.architecture], ['linux', 'amd64']],
  ])('%s', (_name, got, want) => {
    expect(got).toEqual(want);
  });

  it('starts a label set where the builder wrote none (Labels null)', () => {
    const bare = { ...built, config: { Cmd: ['sh'], Labels: null } };
    const c = JSON.parse(labelledConfig(Buffer.from(JSON.stringify(bare)), { a: '1' }, when).toString());
    expect(c.config.Labels).toEqual({ a: '1' });
  });
});

describe('withConfig: the same manifest naming another config', () => {
  it('changes the config descriptor only', () => {
    const manifest = {
      schemaVersion: 2,
      mediaType: 'application/vnd.docker.distribution.manifest.v2+json',
      config: { mediaType: 'application/vnd.docker.container.image.v1+json', size: 10, digest: 'sha256:old' },
      layers: [
        { mediaType: 'application/vnd.docker.image.rootfs.diff.tar.gzip', size: 5, digest: 'sha256:l1' },
      ],
    };
    const config = Buffer.from('{"new":true}');
    const m = JSON.parse(withConfig(Buffer.from(JSON.stringify(manifest)), config).toString());
    expect(m).toEqual({
      ...manifest,
      config: { ...manifest.config, digest: sha(config), size: config.length },
    });
  });
});

async function entries(tar: Buffer): Promise<Record<string, string>> {
  const out: Record<string, string> = {};
  const x = extract();
  const done = new Promise<void>((resolve, reject) => {
    x.on('entry', (h, stream, next) => {
      const parts: Buffer[] = [];
      stream.on('data', (c) => parts.push(c as Buffer));
      stream.on('end', () => {
        out[h.name] = Buffer.concat(parts).toString();
        next();
      });
    });
    x.on('finish', resolve);
    x.on('error', reject);
  });
  Readable.from([tar]).pipe(x);
  await done;
  return out;
}

describe('configOnlyTar: a docker load archive of a config whose layers the daemon holds', () => {
  it.each([
    ['with local tags', ['r/app:main', 'r/app:latest'], ['r/app:main', 'r/app:latest']],
    ['with none', [], null],
  ])(
    '%s: the config under its digest, a manifest naming it and each layer, and no layer file',
    async (_n, tags, repoTags) => {
      const config = Buffer.from(JSON.stringify(built));
      const hex = sha(config).slice(7);
      const files = await entries(await configOnlyTar(config, tags));
      expect(Object.keys(files).sort()).toEqual([`${hex}.json`, 'manifest.json']);
      expect(files[`${hex}.json`]).toBe(config.toString());
      expect(JSON.parse(files['manifest.json']!)).toEqual([
        { Config: `${hex}.json`, RepoTags: repoTags, Layers: ['aa/layer.tar', 'bb/layer.tar'] },
      ]);
    },
  );
});

describe("pushOutcomes: each layer's fate from docker push's messages", () => {
  const manifest = Buffer.from(
    JSON.stringify({
      layers: [
        { digest: 'sha256:g1', size: 100 },
        { digest: 'sha256:g2', size: 20 },
        { digest: 'sha256:g3', size: 3 },
      ],
    }),
  );
  const diffIds = ['sha256:' + '1'.repeat(64), 'sha256:' + '2'.repeat(64), 'sha256:' + '3'.repeat(64)];
  it.each([
    {
      name: 'mounted, already there and pushed',
      output:
        '111111111111: Mounted from base/img\n222222222222: Layer already exists\n333333333333: Pushed\nmain: digest: sha256:x size: 9',
      want: ['mounted', 'reused', 'uploaded'],
    },
    {
      name: 'no message for a layer: it was there',
      output: '333333333333: Pushed',
      want: ['reused', 'reused', 'uploaded'],
    },
  ])('$name', ({ output, want }) => {
    expect(pushOutcomes(output, diffIds, manifest)).toEqual([
      { digest: 'sha256:g1', size: 100, outcome: want[0] },
      { digest: 'sha256:g2', size: 20, outcome: want[1] },
      { digest: 'sha256:g3', size: 3, outcome: want[2] },
    ]);
  });
  it('says nothing when the manifest and the diff_ids do not line up', () => {
    expect(pushOutcomes('', diffIds.slice(1), manifest)).toEqual([]);
  });
});

describe('labelDockerfile: the LABEL step where no config can be written', () => {
  it('puts every label in one JSON-quoted LABEL line', () => {
    expect(labelDockerfile('sha256:abc', { a: '1', 'b.c': 'x y' })).toBe(
      'FROM sha256:abc\nLABEL "a"="1" \\\n      "b.c"="x y"\n',
    );
  });
});

describe('deletesAllowed: whether the unlabelled manifest could be removed afterwards', () => {
  it.each([
    ['a registry that deletes (404 for the probe digest)', async () => 'absent' as const, true],
    ['deletes disabled (405)', async () => 'unsupported' as const, false],
    [
      'a refusal (401/403 on DELETE, as Docker Hub answers)',
      async () => Promise.reject(new Error('denied')),
      false,
    ],
  ])('%s', async (_name, answer, want) => {
    const client = { deleteManifest: answer } as unknown as RegistryClient;
    expect(await deletesAllowed(client, 'acme/api')).toBe(want);
  });
});
