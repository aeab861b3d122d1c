import { describe, expect, it } from '@jest/globals';
import { createHash } from 'node:crypto';
import { cleanDistribution } from '../../../src/preview/distribution.js';
import type { RegistryClient } from '../../../src/registry/client.js';

const OCI = 'application/vnd.oci.image.manifest.v1+json';
const INDEX = 'application/vnd.oci.image.index.v1+json';
const digestOf = (b: Buffer) => `sha256:${createHash('sha256').update(b).digest('hex')}`;

/** A registry in memory with distribution's delete semantics: deleting a digest drops its tags. */
class MemoryRegistry {
  manifests = new Map<string, { body: Buffer; mediaType: string }>();
  tags = new Map<string, string>();
  calls: string[] = [];
  constructor(readonly deletes = true) {}

  add(tag: string, mediaType = OCI, children: string[] = []): string {
    const body = Buffer.from(
      JSON.stringify(
        mediaType === INDEX
          ? { mediaType, manifests: children.map((digest) => ({ digest })) }
          : { mediaType, tag },
      ),
    );
    const d = digestOf(body);
    this.manifests.set(d, { body, mediaType });
    this.tags.set(tag, d);
    return d;
  }
  listTags = async () => [...this.tags.keys()];
  headManifest = async (_r: string, ref: string) => {
    const d = this.tags.get(ref) ?? ref;
    const m = this.manifests.get(d);
    return m && { digest: d, mediaType: m.mediaType, size: m.body.length };
  };
  getManifest = async (_r: string, ref: string) => {
    const m = this.manifests.get(this.tags.get(ref) ?? ref)!;
    return { ...m, digest: digestOf(m.body) };
  };
  uploadBlob = async (_r: string, digest: string) => void this.calls.push(`blob ${digest.slice(0, 12)}`);
  putManifest = async (_r: string, tag: string, body: Buffer, mediaType: string) => {
    const d = digestOf(body);
    this.manifests.set(d, { body, mediaType });
    this.tags.set(tag, d);
    this.calls.push(`put ${tag}`);
    return d;
  };
  deleteManifest = async (_r: string, digest: string) => {
    this.calls.push(`delete ${digest.slice(0, 12)}`);
    if (!this.deletes) return 'unsupported' as const;
    if (!this.manifests.delete(digest)) return 'absent' as const;
    for (const [t, d] of this.tags) if (d === digest) this.tags.delete(t);
    return 'deleted' as const;
  };
}

const log = { info() {}, notice() {}, warning() {} };
const target = { name: 'reg.example/acme/api', repository: 'acme/api' };
const clean = (reg: MemoryRegistry, tags: string[]) =>
  cleanDistribution(reg as unknown as RegistryClient, target, tags, log);

describe('removing preview tags from a distribution registry', () => {
  it('uses the listing the caller made instead of listing the tags again', async () => {
    const reg = new MemoryRegistry();
    reg.add('pr-7');
    reg.add('main');
    let listed = 0;
    const list = reg.listTags;
    reg.listTags = async () => (listed++, list());
    const out = await cleanDistribution(
      reg as unknown as RegistryClient,
      target,
      ['pr-7'],
      log,
      await list(),
    );
    expect(listed).toBe(0);
    expect([...reg.tags.keys()]).toEqual(['main']);
    expect(out.removed.map((r) => r.ref)).toEqual([`${target.name}:pr-7`]);
  });

  it("deletes a digest only this pull request's tags name", async () => {
    const reg = new MemoryRegistry();
    const pr = reg.add('pr-7');
    reg.tags.set('sha-aaaaaaa', pr);
    const main = reg.add('main');
    const out = await clean(reg, ['pr-7', 'sha-aaaaaaa', 'sha-bbbbbbb']);
    expect([...reg.tags.keys()]).toEqual(['main']);
    expect(reg.manifests.has(pr)).toBe(false);
    expect(reg.manifests.has(main)).toBe(true);
    expect(out.removed.map((r) => r.ref)).toEqual(['pr-7', 'sha-aaaaaaa'].map((t) => `${target.name}:${t}`));
    expect(out.left).toEqual([]);
  });

  it.each([
    [
      'another tag names the same digest',
      (reg: MemoryRegistry, d: string) => reg.tags.set('main', d),
      'main',
    ],
    [
      "another tag's index lists it (a platform of a multi-platform image)",
      (reg: MemoryRegistry, d: string) => reg.add('release', INDEX, [d]),
      'release',
    ],
  ])('when %s, only the tag goes: the digest stays', async (_n, share, holder) => {
    const reg = new MemoryRegistry();
    const d = reg.add('sha-aaaaaaa');
    share(reg, d);
    const out = await clean(reg, ['pr-7', 'sha-aaaaaaa']);
    expect(reg.tags.has('sha-aaaaaaa')).toBe(false);
    expect(reg.tags.has(holder)).toBe(true);
    expect(reg.manifests.has(d)).toBe(true);
    expect(reg.calls).not.toContain(`delete ${d.slice(0, 12)}`);
    expect(out.removed).toEqual([
      { ref: `${target.name}:sha-aaaaaaa`, digest: d, untagged: expect.stringContaining(holder) },
    ]);
  });

  it('with deletes disabled (405) leaves every preview tag, says why, and tries nothing else', async () => {
    const reg = new MemoryRegistry(false);
    reg.add('pr-7');
    reg.add('main');
    const out = await clean(reg, ['pr-7', 'sha-aaaaaaa']);
    expect(reg.calls).toHaveLength(1); // the probe
    expect(out.left).toEqual([{ ref: `${target.name}:pr-7`, why: expect.stringContaining('405') }]);
  });

  it('does nothing when no preview tag is there', async () => {
    const reg = new MemoryRegistry();
    reg.add('main');
    expect(await clean(reg, ['pr-7'])).toEqual({ removed: [], left: [] });
    expect(reg.calls).toEqual([]);
  });
});
