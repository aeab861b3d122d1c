/**
 * Removing preview tags from a registry that speaks the distribution API. It can delete a
 * manifest only by digest, which drops every tag on that digest, so a digest that a tag
 * outside the preview also names is never deleted: its preview tags are moved onto a
 * throw-away manifest first, and that one is deleted (the shared digest stays, untouched).
 */
import { randomUUID } from 'node:crypto';
import { Readable } from 'node:stream';
import { messageOf } from '../errors.js';
import { MEDIA_TYPES, PROBE_DIGEST, type RegistryClient, sha256Digest } from '../registry/client.js';
import { type CleanupLog, emptyOutcome, type Outcome } from './outcome.js';

export interface RepoTarget {
  /** The image name as written (`host/path`), for messages. */
  name: string;
  repository: string;
}

const INDEX_TYPES: string[] = [MEDIA_TYPES.ociIndex, MEDIA_TYPES.dockerManifestList];

/** Runs `fn` over `items`, a few at a time. */
async function eachLimited<T>(items: T[], fn: (item: T) => Promise<void>): Promise<void> {
  let next = 0;
  const worker = async () => {
    while (next < items.length) await fn(items[next++]!);
  };
  await Promise.all(Array.from({ length: Math.min(8, items.length) }, worker));
}

/** Each tag's digest and media type (one HEAD per tag). */
async function headsOf(
  client: RegistryClient,
  repo: string,
  tags: string[],
): Promise<Map<string, { digest: string; mediaType: string }>> {
  const out = new Map<string, { digest: string; mediaType: string }>();
  await eachLimited(tags, async (tag) => {
    const head = await client.headManifest(repo, tag);
    if (head) out.set(tag, head);
  });
  return out;
}

/**
 * Digests that the indexes of `tags` list: deleting one of those would break a platform of
 * an index another tag names, so they count as held by that tag.
 */
async function heldByIndexes(
  client: RegistryClient,
  repo: string,
  tags: string[],
  heads: Map<string, { digest: string; mediaType: string }>,
): Promise<Map<string, string[]>> {
  const held = new Map<string, string[]>();
  const indexes = tags.filter((t) => INDEX_TYPES.includes(heads.get(t)?.mediaType ?? ''));
  await eachLimited(indexes, async (tag) => {
    const m = await client.getManifest(repo, heads.get(tag)!.digest);
    const children =
      (JSON.parse(m.body.toString('utf8')) as { manifests?: { digest?: string }[] }).manifests ?? [];
    for (const c of children) if (c.digest) held.set(c.digest, [...(held.get(c.digest) ?? []), tag]);
  });
  return held;
}

/** Points `tags` at a fresh empty manifest and deletes it: the tags go, their old digest stays. */
async function untag(client: RegistryClient, repo: string, tags: string[]): Promise<void> {
  const config = Buffer.from(JSON.stringify({ 'publish-image': 'preview tag removal', id: randomUUID() }));
  const configDigest = sha256Digest(config);
  await client.uploadBlob(repo, configDigest, config.length, () => Readable.from([config]));
  const manifest = Buffer.from(
    JSON.stringify({
      schemaVersion: 2,
      mediaType: MEDIA_TYPES.ociManifest,
      config: { mediaType: MEDIA_TYPES.ociConfig, digest: configDigest, size: config.length },
      layers: [],
    }),
  );
  let placeholder = '';
  for (const tag of tags)
    placeholder = await client.putManifest(repo, tag, manifest, MEDIA_TYPES.ociManifest);
  await client.deleteManifest(repo, placeholder);
}

/** Removes `previewTags` from one repository; never a digest another tag still names. */
export async function cleanDistribution(
  client: RegistryClient,
  target: RepoTarget,
  previewTags: string[],
  log: CleanupLog,
  /** The repository's tags, when the caller listed them already. */
  listed?: string[],
): Promise<Outcome> {
  const out = emptyOutcome();
  const ref = (tag: string) => `${target.name}:${tag}`;
  const all = listed ?? (await client.listTags(target.repository));
  const present = previewTags.filter((t) => all.includes(t));
  if (present.length === 0) return out;
  if ((await client.deleteManifest(target.repository, PROBE_DIGEST)) === 'unsupported') {
    log.notice(
      `${target.name}: the registry has deletes disabled (405), so ${present.length} preview tag(s) stay: ${present.join(', ')}. Enable storage.delete on the registry to have them removed.`,
    );
    for (const t of present) out.left.push({ ref: ref(t), why: 'the registry has deletes disabled (405)' });
    return out;
  }
  const heads = await headsOf(client, target.repository, all);
  const preview = new Set(present);
  const outside = all.filter((t) => !preview.has(t));
  const held = await heldByIndexes(client, target.repository, outside, heads);
  const byDigest = new Map<string, string[]>();
  for (const t of present) {
    const d = heads.get(t)?.digest;
    if (d) byDigest.set(d, [...(byDigest.get(d) ?? []), t]);
  }
  for (const [digest, tags] of byDigest) {
    const others = [...outside.filter((t) => heads.get(t)?.digest === digest), ...(held.get(digest) ?? [])];
    try {
      if (others.length === 0) {
        await client.deleteManifest(target.repository, digest);
      } else {
        await untag(client, target.repository, tags);
        log.info(`${target.name}: untagged ${tags.join(', ')}; ${digest} stays for ${others.join(', ')}`);
      }
      const untagged = others.length ? `the digest stays for ${others.join(', ')}` : undefined;
      for (const t of tags) out.removed.push({ ref: ref(t), digest, ...(untagged ? { untagged } : {}) });
    } catch (err) {
      const why = `could not remove it: ${messageOf(err)}`;
      log.warning(`${target.name}: ${tags.join(', ')} ${why}`);
      for (const t of tags) out.left.push({ ref: ref(t), why });
    }
  }
  return out;
}
