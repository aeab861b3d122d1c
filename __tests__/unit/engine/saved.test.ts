import { describe, expect, it } from '@jest/globals';
import { createHash, randomBytes } from 'node:crypto';
import { Readable } from 'node:stream';
import { gunzipSync, gzipSync } from 'node:zlib';
import * as tarStream from 'tar-stream';
import { Progress, type Task } from '../../../src/engine/progress.js';
import type { PushRelay } from '../../../src/engine/relay.js';
import { gzipPieces, levelFor, PIECE_BYTES, relaySavedImage, storedGzip } from '../../../src/engine/saved.js';
import { tempDir } from '../../helpers/tmp.js';

const sha256 = (b: Buffer) => `sha256:${createHash('sha256').update(b).digest('hex')}`;
const text = (n: number) =>
  Buffer.from('the same words again and again, '.repeat(Math.ceil(n / 32))).subarray(0, n);

async function collect(source: AsyncIterable<Buffer>): Promise<Buffer> {
  const parts: Buffer[] = [];
  for await (const c of source) parts.push(c);
  return Buffer.concat(parts);
}

/** `data` in uneven chunks, as a pipe delivers it. */
async function* chunked(data: Buffer, size = 65_536 + 7): AsyncGenerator<Buffer> {
  for (let i = 0; i < data.length; i += size) yield data.subarray(i, i + size);
}

describe('gzipPieces', () => {
  it.each([
    ['empty', Buffer.alloc(0)],
    ['one byte', Buffer.from('x')],
    ['text under one piece', text(100_000)],
    ['text of exactly one piece', text(PIECE_BYTES)],
    ['text over several pieces', text(PIECE_BYTES * 2 + 12_345)],
    ['random over several pieces', randomBytes(PIECE_BYTES * 2 + 99)],
  ])('%s: any gzip reader gets the bytes back', async (_name, data) => {
    const out = await collect(gzipPieces(chunked(data)));
    expect(out.subarray(0, 2)).toEqual(Buffer.from([0x1f, 0x8b]));
    expect(gunzipSync(out).equals(data)).toBe(true);
  });

  it('gives the same bytes for the same input, however it is chunked', async () => {
    const data = Buffer.concat([text(PIECE_BYTES), randomBytes(PIECE_BYTES)]);
    const a = await collect(gzipPieces(chunked(data, 1000)));
    const b = await collect(gzipPieces(chunked(data, 3 * 1024 * 1024)));
    expect(sha256(a)).toBe(sha256(b));
  });

  it('shrinks what compresses and barely grows what does not', async () => {
    const t = text(PIECE_BYTES * 2);
    expect((await collect(gzipPieces(chunked(t)))).length).toBeLessThan(t.length / 10);
    const r = randomBytes(PIECE_BYTES * 2);
    expect((await collect(gzipPieces(chunked(r)))).length).toBeLessThan(r.length * 1.001);
  });
});

describe('storedGzip', () => {
  it.each([0, 1, 65_534, 65_535, 65_536, 200_000, 1024 * 1024])(
    '%i bytes: a gzip member that any reader takes back, barely larger than the data',
    (n) => {
      const data = randomBytes(n);
      const out = storedGzip(data);
      expect(gunzipSync(out).equals(data)).toBe(true);
      // 10-byte header, 5 bytes per 64 KiB block, 8-byte trailer.
      expect(out.length).toBe(n + 18 + 5 * Math.max(1, Math.ceil(n / 65_535)));
    },
  );
});

describe('levelFor', () => {
  it.each([
    ['random bytes are stored', randomBytes(100_000), 0],
    ['gzipped bytes are stored', gzipSync(randomBytes(100_000)), 0],
    ['text is deflated like docker does', text(100_000), 6],
    ['zeros are deflated', Buffer.alloc(100_000), 6],
  ])('%s', (_name, piece, level) => {
    expect(levelFor(piece)).toBe(level);
  });
});

/** A relay that keeps what it is given, and the progress tasks and skipped blobs it saw. */
function memoryRelay(): { relay: PushRelay; blobs: Map<string, Buffer>; tasks: Task[]; held: number[] } {
  const blobs = new Map<string, Buffer>();
  const tasks: Task[] = [];
  const held = [0];
  const progress = new Progress({ log: () => {}, tickMs: 0 });
  const task = progress.task.bind(progress);
  progress.task = (label: string) => {
    const t = task(label);
    tasks.push(t);
    return t;
  };
  const relay = {
    progress,
    held: () => held[0]++,
    async ingest(body: AsyncIterable<Buffer>) {
      const data = await collect(body);
      blobs.set(sha256(data), data);
      return { digest: sha256(data), size: data.length };
    },
  } as unknown as PushRelay;
  return { relay, blobs, tasks, held };
}

/** A `docker save` archive from entries (name -> bytes, or a symlink target). */
function archive(entries: [string, Buffer | { link: string }][]): Readable {
  const pack = tarStream.pack();
  for (const [name, v] of entries) {
    if (Buffer.isBuffer(v)) pack.entry({ name }, v);
    else pack.entry({ name, type: 'symlink', linkname: v.link });
  }
  pack.finalize();
  return pack as unknown as Readable;
}

const blobName = (b: Buffer) => `blobs/sha256/${sha256(b).slice(7)}`;

/** A docker 25+ save (OCI layout) of one image: every blob under blobs/sha256/<hex>. */
function ociArchive(config: Buffer, layers: Buffer[]): Readable {
  return archive([
    [blobName(config), config],
    ...layers.map((l): [string, Buffer] => [blobName(l), l]),
    [
      'manifest.json',
      Buffer.from(JSON.stringify([{ Config: blobName(config), Layers: layers.map(blobName) }])),
    ],
  ]);
}

describe('relaySavedImage', () => {
  const layer1 = Buffer.concat([text(2 * 1024 * 1024), randomBytes(1024)]);
  const layer2 = text(5000);
  const config = Buffer.from(
    JSON.stringify({
      architecture: 'amd64',
      os: 'linux',
      rootfs: { type: 'layers', diff_ids: [sha256(layer1), sha256(layer2)] },
    }),
  );
  const configHex = sha256(config).slice(7);

  it.each([
    [
      "docker 20's layout (<id>/layer.tar, <id>.json)",
      [
        ['aaa/layer.tar', layer1],
        ['aaa/json', Buffer.from('{}')],
        ['bbb/layer.tar', layer2],
        [`${configHex}.json`, config],
        [
          'manifest.json',
          Buffer.from(
            JSON.stringify([{ Config: `${configHex}.json`, Layers: ['aaa/layer.tar', 'bbb/layer.tar'] }]),
          ),
        ],
      ],
    ],
    [
      'the OCI layout of docker 25+ (blobs/sha256/..., a small layer kept in memory, a symlink)',
      [
        [`blobs/sha256/${sha256(layer1).slice(7)}`, layer1],
        [`blobs/sha256/${sha256(layer2).slice(7)}`, layer2],
        [`blobs/sha256/${configHex}`, config],
        ['ccc/layer.tar', { link: `../blobs/sha256/${sha256(layer2).slice(7)}` }],
        [
          'manifest.json',
          Buffer.from(
            JSON.stringify([
              {
                Config: `blobs/sha256/${configHex}`,
                Layers: [`blobs/sha256/${sha256(layer1).slice(7)}`, 'ccc/layer.tar'],
              },
            ]),
          ),
        ],
      ],
    ],
  ] as [string, [string, Buffer | { link: string }][]][])(
    'reads %s: layers gzipped once, the config as it is, a Docker schema 2 manifest',
    async (_name, entries) => {
      const { relay, blobs } = memoryRelay();
      const m = await relaySavedImage(archive(entries), relay);
      expect(m.mediaType).toBe('application/vnd.docker.distribution.manifest.v2+json');
      expect(m.digest).toBe(sha256(m.body));
      const body = JSON.parse(m.body.toString('utf8'));
      expect(body.config).toEqual({
        mediaType: 'application/vnd.docker.container.image.v1+json',
        size: config.length,
        digest: sha256(config),
      });
      expect(body.layers).toHaveLength(2);
      for (const [i, l] of body.layers.entries()) {
        expect(l.mediaType).toBe('application/vnd.docker.image.rootfs.diff.tar.gzip');
        expect(sha256(gunzipSync(blobs.get(l.digest)!))).toBe(sha256([layer1, layer2][i]!));
      }
    },
  );

  it('reports the export and each layer on its own progress task, with the totals it knows', async () => {
    const { relay, tasks } = memoryRelay();
    const entries: [string, Buffer][] = [
      ['aaa/layer.tar', layer1],
      ['bbb/layer.tar', layer2],
      [`${configHex}.json`, config],
      [
        'manifest.json',
        Buffer.from(
          JSON.stringify([{ Config: `${configHex}.json`, Layers: ['aaa/layer.tar', 'bbb/layer.tar'] }]),
        ),
      ],
    ];
    const bytes = await collect(archive(entries));
    await relaySavedImage(Readable.from(chunked(bytes)), relay, { size: Promise.resolve(12_345_678) });
    const seen = tasks.map((t) => [t.label, t.finished, ...t.counters.map((c) => [c.name, c.done, c.total])]);
    expect(seen).toEqual([
      ['Export from docker', true, ['read', bytes.length, 12_345_678]],
      ['Layer 1', true, ['compressed', layer1.length, layer1.length]],
      ['Layer 2', true, ['compressed', layer2.length, layer2.length]],
    ]);
  });

  it('calls an already-compressed layer "read", not "compressed"', async () => {
    const { relay, tasks } = memoryRelay();
    const gz = gzipSync(randomBytes(2 * 1024 * 1024)); // over 1 MiB: streamed, not kept in memory
    await relaySavedImage(ociArchive(config, [gz]), relay);
    expect(tasks.map((t) => [t.label, t.counters[0]?.name])).toEqual([
      ['Export from docker', 'read'],
      ['Layer 1', 'read'],
    ]);
  });

  it.each([
    ['docker 20 (spooled and hashed, then skipped)', 'legacy', false],
    ['docker 25+ (skipped by its name, unread)', 'oci', false],
    // A platform of a multi-platform image: the base's docker-typed blob, under OCI's type.
    ['an OCI manifest lists a held docker gzip layer as OCI gzip, same digest', 'oci', true],
  ])('skips layers and a config the registries hold: %s', async (_name, layout, oci) => {
    const held = {
      mediaType: 'application/vnd.docker.image.rootfs.diff.tar.gzip',
      digest: sha256(Buffer.from('held')),
      size: 4,
    };
    const known = { layers: new Map([[sha256(layer1), held]]), configs: new Set([sha256(config)]) };
    const name1 = layout === 'legacy' ? 'aaa/layer.tar' : `blobs/sha256/${sha256(layer1).slice(7)}`;
    const name2 = layout === 'legacy' ? 'bbb/layer.tar' : `blobs/sha256/${sha256(layer2).slice(7)}`;
    const configName = layout === 'legacy' ? `${configHex}.json` : `blobs/sha256/${configHex}`;
    const { relay, blobs, held: skipped } = memoryRelay();
    const m = await relaySavedImage(
      archive([
        [name1, layer1],
        [name2, layer2],
        [configName, config],
        ['manifest.json', Buffer.from(JSON.stringify([{ Config: configName, Layers: [name1, name2] }]))],
      ]),
      relay,
      { known: Promise.resolve(known), tmpDir: tempDir('saved-spool'), oci },
    );
    const body = JSON.parse(m.body.toString('utf8'));
    expect(body.layers[0]).toEqual(
      oci ? { ...held, mediaType: 'application/vnd.oci.image.layer.v1.tar+gzip' } : held,
    );
    expect(body.mediaType).toBe(
      oci
        ? 'application/vnd.oci.image.manifest.v1+json'
        : 'application/vnd.docker.distribution.manifest.v2+json',
    );
    expect(body.config.digest).toBe(sha256(config));
    // Only the second layer was compressed and sent: not the held one, not the config.
    expect(blobs.size).toBe(1);
    expect(skipped[0]).toBe(2);
    expect(sha256(gunzipSync([...blobs.values()][0]!))).toBe(sha256(layer2));
  });

  it('takes a config over 1 MiB (a long history) in the OCI layout for the config, not a layer', async () => {
    const big = Buffer.from(
      JSON.stringify({
        architecture: 'amd64',
        os: 'linux',
        history: [{ comment: 'x'.repeat(1536 * 1024) }],
        rootfs: { type: 'layers', diff_ids: [sha256(layer2)] },
      }),
    );
    const { relay, blobs } = memoryRelay();
    const m = await relaySavedImage(ociArchive(big, [layer2]), relay);
    const body = JSON.parse(m.body.toString('utf8'));
    expect(body.config.digest).toBe(sha256(big));
    expect(blobs.get(sha256(big))!.equals(big)).toBe(true);
  });

  it('sends a layer that is already gzip as it is', async () => {
    const gz = gzipSync(layer1);
    const { relay, blobs } = memoryRelay();
    const m = await relaySavedImage(ociArchive(config, [gz]), relay);
    const body = JSON.parse(m.body.toString('utf8'));
    expect(body.layers[0].digest).toBe(sha256(gz));
    expect(blobs.get(sha256(gz))!.equals(gz)).toBe(true);
  });

  it.each([
    ['no manifest.json', [['aaa/layer.tar', layer2]], /no manifest\.json/],
    [
      'two images',
      [['manifest.json', Buffer.from('[{"Config":"a.json"},{"Config":"b.json"}]')]],
      /expected one image.*found 2/,
    ],
    [
      'a missing config',
      [['manifest.json', Buffer.from('[{"Config":"a.json","Layers":[]}]')]],
      /config a\.json is missing/,
    ],
    [
      'a missing layer',
      [
        [`${configHex}.json`, config],
        [
          'manifest.json',
          Buffer.from(JSON.stringify([{ Config: `${configHex}.json`, Layers: ['zzz/layer.tar'] }])),
        ],
      ],
      /layer zzz\/layer\.tar is missing/,
    ],
  ] as [string, [string, Buffer][], RegExp][])('fails clearly on %s', async (_name, entries, message) => {
    await expect(relaySavedImage(archive(entries), memoryRelay().relay)).rejects.toThrow(message);
  });
});
