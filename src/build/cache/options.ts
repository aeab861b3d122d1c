/**
 * `cache-from` and `cache-to` as users bring them from build-push-action: image references, or
 * BuildKit's `type=…` forms. Each builder takes what it can read; what it cannot fails before
 * the build, in one line that says what would work, instead of being dropped without a word.
 */
import type { Builder } from '../builder.js';

/** A `type=…,key=value` line as a map; undefined for a plain image reference. */
export function parseCacheEntry(line: string): Map<string, string> | undefined {
  if (!/^type=/.test(line.trim())) return undefined;
  const m = new Map<string, string>();
  for (const part of line.split(',')) {
    const at = part.indexOf('=');
    if (at > 0) m.set(part.slice(0, at).trim(), part.slice(at + 1).trim());
  }
  return m;
}

export interface CacheFlags {
  /** `--cache-from` operands for this builder. */
  from: string[];
  /** Images the classic builder needs in the daemon first (it reads no registry itself). */
  pull: string[];
  /** `--cache-to` operands (buildx only). */
  to: string[];
  /** Whether inline cache metadata is asked for (`type=inline`). */
  inline: boolean;
}

const BUILDX = `docker buildx with the docker-container driver (docker/setup-buildx-action's default)`;

/**
 * What each builder makes of the inputs. `driver` is buildx's builder driver (`docker`,
 * `docker-container`, …), asked for only when buildx builds and `cache-to` is given.
 */
export function cacheFlags(b: Builder, cacheFrom: string[], cacheTo: string[], driver = ''): CacheFlags {
  const out: CacheFlags = { from: [], pull: [], to: [], inline: false };
  for (const line of cacheFrom) {
    const e = parseCacheEntry(line);
    if (!e) {
      out.from.push(line);
      if (b.kind === 'classic') out.pull.push(line);
      continue;
    }
    const type = e.get('type');
    if (b.kind === 'buildx') out.from.push(line);
    else if (type === 'registry' && e.get('ref') && b.kind === 'buildkit') out.from.push(e.get('ref')!);
    else if (type === 'registry' && e.get('ref'))
      throw new Error(
        `Input "cache-from": ${line} is a BuildKit cache, which the classic builder cannot read; ` +
          `it reads only images: give the image itself (cache-from: ${e.get('ref')}) if it is one, or build with BuildKit.`,
      );
    else
      throw new Error(
        `Input "cache-from": ${line} needs ${BUILDX}; this step builds with ${b.description}. ` +
          `Image references (cache-from: ghcr.io/acme/api:main) work with every builder.`,
      );
  }
  for (const line of cacheTo) {
    const type = parseCacheEntry(line)?.get('type');
    if (!type)
      throw new Error(
        `Input "cache-to": ${line} is not a cache export; write it as type=registry,ref=… or type=inline`,
      );
    if (type === 'inline') {
      out.inline = true;
      continue;
    }
    if (b.kind === 'buildx' && driver !== 'docker') {
      out.to.push(line);
      continue;
    }
    const who = b.kind === 'buildx' ? "buildx's docker driver (the default builder)" : b.description;
    throw new Error(
      `Input "cache-to": ${who} exports only inline cache, not ${line}: use type=inline, ` +
        `or ${BUILDX}. Without cache-to the action keeps a registry cache of its own (input cache).`,
    );
  }
  return out;
}
