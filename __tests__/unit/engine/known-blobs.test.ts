/**
 * What the push reads to reuse an earlier image's layers, and what that costs against a pull
 * limit (Docker Hub counts manifest GETs, not HEADs): table-driven over a fake registry client.
 */
import { describe, expect, it } from '@jest/globals';
import { createHash } from 'node:crypto';
import { Readable } from 'node:stream';
import { findKnownLayers } from '../../../src/engine/known.js';
import { silentLogger } from '../../../src/log.js';
import type { ReadOptions, RegistryClient } from '../../../src/registry/client.js';
import { RegistryError } from '../../../src/registry/retry.js';

const sha = (s: string) => `sha256:${createHash('sha256').update(s).digest('hex')}`;
const config = JSON.stringify({ rootfs: { diff_ids: [sha('tar')] } });
const layer = { mediaType: 'application/vnd.oci.image.layer.v1.tar+gzip', digest: sha('gz'), size: 2 };
const manifest = Buffer.from(
  JSON.stringify({
    mediaType: 'application/vnd.oci.image.manifest.v1+json',
    config: { digest: sha(config) },
    layers: [layer],
  }),
);

interface Registry {
  /** Tags the repository holds (all on `manifest`). */
  tags: string[];
  /** HEAD answers without Docker-Content-Digest, so the client GETs and hands the body back. */
  noDigestHeader?: boolean;
  /** Manifest GETs answer 429 (the pull limit is spent). */
  rateLimited?: boolean;
}

function fake(r: Registry) {
  const calls = { heads: 0, gets: 0, failFast: [] as boolean[] };
  const client = {
    registry: 'r.example',
    async headManifest(_repo: string, tag: string) {
      calls.heads++;
      if (!r.tags.includes(tag)) return undefined;
      const head = { digest: sha(manifest.toString()), mediaType: 'x', size: manifest.length };
      return r.noDigestHeader ? { ...head, body: manifest } : head;
    },
    async getManifest(_repo: string, _ref: string, opts: ReadOptions = {}) {
      calls.gets++;
      calls.failFast.push(opts.rateLimited === 'fail');
      if (r.rateLimited)
        throw new RegistryError('429', { registry: 'r.example', status: 429, retryable: false });
      return { body: manifest, mediaType: 'x', digest: sha(manifest.toString()) };
    },
    async getBlob() {
      return Readable.from([Buffer.from(config)]);
    },
    async hasBlob() {
      return true;
    },
  };
  return { client: client as unknown as RegistryClient, calls };
}

describe('findKnownLayers: reusing what an earlier push left', () => {
  it.each<[string, Registry, number, number]>([
    ['tags that are new: one HEAD each, no GET, nothing to reuse', { tags: [] }, 0, 0],
    ['three tags on one earlier image: read once by its digest', { tags: ['a', 'b', 'c'] }, 1, 1],
    [
      'a registry without Docker-Content-Digest: the body headManifest fell back to is used, no GET by digest after it',
      { tags: ['a', 'b', 'c'], noDigestHeader: true },
      0,
      1,
    ],
    [
      'the pull limit spent (429): nothing reused, and the GET was asked not to wait',
      { tags: ['a', 'b', 'c'], rateLimited: true },
      1,
      0,
    ],
  ])('%s', async (_name, registry, gets, layers) => {
    const { client, calls } = fake(registry);
    const sources = ['a', 'b', 'c'].map((ref) => ({ registry: 'r.example', repository: 'acme/api', ref }));
    const known = await findKnownLayers(sources, [sha('tar')], {
      clients: () => client,
      platform: { os: 'linux', architecture: 'amd64' },
      log: silentLogger,
    });
    expect(calls.heads).toBe(3);
    expect(calls.gets).toBe(gets);
    expect(calls.failFast.every(Boolean)).toBe(true);
    expect(known.layers.size).toBe(layers);
  });
});
