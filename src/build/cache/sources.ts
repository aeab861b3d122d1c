/**
 * Where a build's cache comes from: for each stage it builds (and the image itself), the first
 * scope, in the order the run may read them, whose entry the first registry of `images` that
 * holds one has. A missing entry (the first run) is said in one line; one that cannot be read
 * is a warning, and the build goes on without it.
 */
import { messageOf } from '../../errors.js';
import type { Logger } from '../../log.js';
import type { RegistryClient } from '../../registry/client.js';
import type { CacheScopes } from './scope.js';
import { type CachedStage, cacheTag } from './stages.js';

/** Where the cache lives: the images this step publishes, in the order `images` names them. */
export interface CacheRepo {
  name: string;
  registry: string;
  repository: string;
}

/** One entry looked for: a stage's (key) or the image's (key ''). */
export interface CacheLookup {
  key: string;
  /** Every ref tried, in order, and what came of it. */
  tried: { ref: string; found: boolean; error?: string }[];
  /** The ref that serves it, if any. */
  ref?: string;
}

export interface CacheSources {
  lookups: CacheLookup[];
  /** Refs found, each once: the `--cache-from` of every build of this step. */
  refs: string[];
}

/** Looks for every entry side by side; never throws (an unreadable source is a warning). */
export async function findCacheSources(
  repos: CacheRepo[],
  scopes: CacheScopes,
  stages: CachedStage[],
  clients: (registry: string) => RegistryClient,
  log: Logger,
): Promise<CacheSources> {
  const keys = ['', ...stages.map((s) => s.key)];
  const lookups = await Promise.all(
    keys.map(async (key): Promise<CacheLookup> => {
      // Every candidate asked at once (a HEAD each, one round trip in all); the first found
      // in the order of the scopes and images serves, and what came before it was tried.
      const candidates = scopes.read.flatMap((scope) =>
        repos.map((repo) => ({ repo, tag: cacheTag(scope, key || undefined) })),
      );
      const answers = await Promise.all(
        candidates.map(async ({ repo, tag }) => {
          const ref = `${repo.name}:${tag}`;
          try {
            const head = await clients(repo.registry).headManifest(repo.repository, tag);
            return { ref, found: !!head };
          } catch (err) {
            return { ref, found: false, error: messageOf(err).split('\n')[0] };
          }
        }),
      );
      const first = answers.findIndex((a) => a.found);
      const tried = first < 0 ? answers : answers.slice(0, first + 1);
      return { key, tried, ...(first < 0 ? {} : { ref: answers[first]!.ref }) };
    }),
  );
  for (const l of lookups)
    for (const t of l.tried.filter((x) => x.error))
      log.warning(`Build cache ${t.ref} could not be read, building without it: ${t.error}`);
  const refs = [...new Set(lookups.flatMap((l) => (l.ref ? [l.ref] : [])))];
  return { lookups, refs };
}

/** The log's lines on what was found. */
export function describeSources(s: CacheSources, scopes: CacheScopes): string[] {
  if (s.refs.length === 0)
    return [
      `Build cache: none yet in ${scopes.read.map((x) => cacheTag(x)).join(', ') || '(no scope)'} (a first run builds cold)`,
    ];
  return s.lookups.map((l) => {
    const what = l.key ? `stage ${l.key}` : 'image';
    return l.ref ? `Build cache for the ${what}: ${l.ref}` : `Build cache for the ${what}: none yet`;
  });
}
