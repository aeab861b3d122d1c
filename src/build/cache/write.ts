/**
 * Writing a run's cache: each stage image under `buildcache-<scope>--<stage>` and the published
 * image's manifest under `buildcache-<scope>`, in the first registry of `images`. An entry is
 * overwritten, never accumulated: the stage manifest it replaced is deleted where the registry
 * allows deletes and no other cache entry names it (identical stages of two scopes share a
 * digest). The image's own entry is the published manifest, so its old digest is a release's
 * and is never deleted; the unlabelled manifest a classic build pushed there first
 * (build/relabel.ts) is, once the tag names the published one.
 */
import type { Docker } from '../../docker/cli.js';
import type { EngineAuth } from '../../docker/engine.js';
import { messageOf } from '../../errors.js';
import type { Logger } from '../../log.js';
import type { RegistryClient } from '../../registry/client.js';
import type { CacheRepo } from './sources.js';
import { cacheTag, isCacheTag } from './stages.js';

export interface CacheWrite {
  repo: CacheRepo;
  scope: string;
  /** Local stage images, by stage key (tagged `<repo>:<cache tag>` by the build). */
  stages: { key: string; localRef: string }[];
  /** The digest the registry holds for the published image in `repo`. */
  imageDigest?: string;
  /** An unlabelled manifest this run pushed under the image's tag first (relabel.ts). */
  unlabelled?: string;
}

export interface CacheWriteResult {
  written: { ref: string; digest?: string }[];
  replaced: {
    ref: string;
    digest: string;
    outcome: 'deleted' | 'kept' | 'deletes disabled';
    /** The unlabelled image this run pushed first, rather than an earlier run's entry. */
    unlabelled?: boolean;
  }[];
}

/** Deletes `old` unless another cache tag still names it; says what became of it. */
async function dropReplaced(
  client: RegistryClient,
  repository: string,
  tag: string,
  old: string,
): Promise<'deleted' | 'kept' | 'deletes disabled'> {
  const tags = (await client.listTags(repository)).filter((t) => isCacheTag(t) && t !== tag);
  const heads = await Promise.all(tags.map((t) => client.headManifest(repository, t).catch(() => undefined)));
  if (heads.some((h) => h?.digest === old)) return 'kept';
  const r = await client.deleteManifest(repository, old);
  return r === 'unsupported' ? 'deletes disabled' : 'deleted';
}

/** Pushes the stage images and points the image's entry at the published manifest. */
export async function writeCache(
  w: CacheWrite,
  docker: Docker,
  client: RegistryClient,
  o: { auth?: EngineAuth; loggedIn: Promise<void>; log: Logger },
): Promise<CacheWriteResult> {
  const out: CacheWriteResult = { written: [], replaced: [] };
  const { repository } = w.repo;
  for (const s of w.stages) {
    const tag = cacheTag(w.scope, s.key);
    const old = await client.headManifest(repository, tag).catch(() => undefined);
    const pushed = await docker.push(s.localRef, { auth: o.auth, loggedIn: o.loggedIn });
    out.written.push({ ref: s.localRef, digest: pushed.digest });
    if (old && pushed.digest && old.digest !== pushed.digest) {
      const outcome = await dropReplaced(client, repository, tag, old.digest).catch((err: unknown) => {
        o.log.warning(`The replaced cache manifest ${w.repo.name}@${old.digest} stays: ${messageOf(err)}`);
        return 'kept' as const;
      });
      out.replaced.push({ ref: s.localRef, digest: old.digest, outcome });
    }
  }
  if (w.imageDigest) {
    const tag = cacheTag(w.scope);
    // The manifest the step just put, when this client put it; a GET only after a daemon push.
    const m = client.manifestPut(w.imageDigest) ?? (await client.getManifest(repository, w.imageDigest));
    await client.putManifest(repository, tag, m.body, m.mediaType);
    out.written.push({ ref: `${w.repo.name}:${tag}`, digest: w.imageDigest });
    if (w.unlabelled && w.unlabelled !== w.imageDigest) {
      // Only this run's push named it: no release tag ever does (they name the labelled one).
      const r = await client.deleteManifest(repository, w.unlabelled).catch((err: unknown) => {
        o.log.warning(`The unlabelled image ${w.repo.name}@${w.unlabelled} stays: ${messageOf(err)}`);
        return 'kept' as const;
      });
      const outcome = r === 'unsupported' ? 'deletes disabled' : r === 'kept' ? 'kept' : 'deleted';
      out.replaced.push({ ref: `${w.repo.name}:${tag}`, digest: w.unlabelled, outcome, unlabelled: true });
    }
  }
  return out;
}

/** The log's lines on what was written. */
export function describeWrite(r: CacheWriteResult): string[] {
  const lines = r.written.map((x) => `Build cache written: ${x.ref}${x.digest ? ` (${x.digest})` : ''}`);
  for (const x of r.replaced)
    lines.push(
      x.unlabelled && x.outcome === 'deleted'
        ? `  replaced ${x.digest} (the unlabelled image pushed before the publish), deleted`
        : x.outcome === 'deleted'
          ? `  replaced ${x.digest}, deleted`
          : x.outcome === 'kept'
            ? `  replaced ${x.digest}, kept: another cache entry names it`
            : `  replaced ${x.digest}, kept: the registry has deletes disabled (405), so replaced cache manifests stay until its garbage collection or a delete`,
    );
  return lines;
}
