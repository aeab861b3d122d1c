/**
 * The stages a build needs besides the one it builds, and the tags their cache entries live
 * under. A multi-stage Dockerfile's earlier stages leave nothing in the final image (only what
 * `COPY --from` takes), so their steps are cached as images of their own, one per stage.
 */
import { createHash } from 'node:crypto';
import { instructions, parseStages } from '../dockerfile.js';

export interface CachedStage {
  /** Its index among the Dockerfile's stages (what `--target` cannot name when unnamed). */
  index: number;
  /** `AS name`, when it has one: `--target` needs a name. */
  name?: string;
  /** The tag-safe key of its cache entry: its name, else `stage-<index>`. */
  key: string;
}

/** Every stage the built one (the `target`, else the last) needs, in Dockerfile order. */
export function neededStages(text: string, buildArgs: string[] = [], target = ''): CachedStage[] {
  const stages = parseStages(text, buildArgs);
  if (stages.length < 2) return [];
  const byName = new Map<string, number>();
  stages.forEach((s, i) => s.name && byName.set(s.name, i));
  const resolve = (ref: string): number | undefined => {
    const r = ref.toLowerCase();
    if (/^\d+$/.test(r)) return Number(r) < stages.length ? Number(r) : undefined;
    return byName.get(r);
  };
  // Each stage's parents: the stage its FROM names, and those `--from=` names (COPY, RUN --mount).
  const parents = stages.map(() => new Set<number>());
  let current = -1;
  for (const ins of instructions(text)) {
    if (ins.keyword === 'FROM') {
      current++;
      const s = stages[current];
      const p = s?.fromStage ? resolve(s.image) : undefined;
      if (p !== undefined && p < current) parents[current]!.add(p);
      continue;
    }
    if (current < 0) continue;
    for (const m of ins.args.matchAll(/(?:^|[\s,])(?:--)?from=("?)([^\s,"]+)\1/g)) {
      const p = resolve(m[2]!);
      if (p !== undefined && p < current) parents[current]!.add(p);
    }
  }
  const built = target ? byName.get(target.toLowerCase()) : stages.length - 1;
  if (built === undefined) return [];
  const needed = new Set<number>();
  const visit = (i: number) => {
    for (const p of parents[i]!)
      if (!needed.has(p)) {
        needed.add(p);
        visit(p);
      }
  };
  visit(built);
  return [...needed]
    .sort((a, b) => a - b)
    .map((index) => {
      const name = stages[index]!.name;
      const key = (name ?? `stage-${index}`).replace(/[^a-z0-9_.-]+/g, '-').replace(/-{2,}/g, '-');
      return { index, name, key };
    });
}

const PREFIX = 'buildcache-';

/**
 * The tag of a cache entry: `buildcache-<scope>` for the built image, `buildcache-<scope>--<stage>`
 * for a stage. Tags stop at 128 characters: a longer one keeps its start and a hash of the rest.
 */
export function cacheTag(scope: string, stageKey?: string): string {
  const tag = `${PREFIX}${scope}${stageKey ? `--${stageKey}` : ''}`;
  if (tag.length <= 128) return tag;
  const hash = createHash('sha256').update(tag).digest('hex').slice(0, 12);
  return `${tag.slice(0, 115)}-${hash}`;
}

/** Whether `tag` is one of `scope`'s cache entries (the image's or a stage's). */
export function isCacheTagOf(tag: string, scope: string): boolean {
  const own = cacheTag(scope);
  return tag === own || tag.startsWith(`${PREFIX}${scope}--`);
}

/** Whether `tag` is any cache entry: never a release tag, never `latest`. */
export const isCacheTag = (tag: string): boolean => tag.startsWith(PREFIX);
