/**
 * The classic builder pulls each `FROM` image when its step comes, inside the build, one after
 * the other (about a quarter of a second each for a registry some tens of ms away, even when
 * the layers are already in the daemon from the build cache). Here the daemon fetches them
 * before the build instead, beside the build cache's pulls and the logins: the build then finds
 * them and starts at once. Only what the build would pull the same way: a tagged base with the
 * step's own credentials for its registry, no `--pull` (the build checks again then), no
 * `--platform` (build.ts pulls those for the platform asked).
 */
import { readFileSync } from 'node:fs';
import type { Docker } from '../docker/cli.js';
import type { EngineAuth } from '../docker/engine.js';
import { messageOf } from '../errors.js';
import type { Logger } from '../log.js';
import { parseImageName } from '../registry/reference.js';
import { isScratch, parseStages } from './dockerfile.js';

export interface BaseOptions {
  file: string;
  buildArgs: string[];
  pull: boolean;
  platforms: string[];
}

/** The bases worth fetching first, as `registry/repository:tag` refs with the registry they need. */
export function basesToFetch(o: BaseOptions, text: string): { ref: string; registry: string }[] {
  if (o.pull || o.platforms.length) return [];
  const out = new Map<string, string>();
  for (const s of parseStages(text, o.buildArgs)) {
    if (isScratch(s) || s.fromStage || !s.image || s.platformFlag || s.image.includes('$')) continue;
    try {
      const n = parseImageName(s.image);
      if (n.digest) continue;
      out.set(`${s.image.replace(/:[^:/]+$/, '')}:${n.tag ?? 'latest'}`, n.registry);
    } catch {
      continue; // the build says what is wrong with it
    }
  }
  return [...out].map(([ref, registry]) => ({ ref, registry }));
}

/**
 * Fetches the bases the step has credentials for; never rejects: a base that cannot be fetched
 * here is pulled by the build, which says why it failed if it does.
 */
export async function fetchBases(
  docker: Docker,
  o: BaseOptions,
  auth: (registry: string) => EngineAuth | undefined,
  log: Logger,
): Promise<void> {
  if (!docker.engine) return;
  let text: string;
  try {
    text = readFileSync(o.file, 'utf8');
  } catch {
    return;
  }
  await Promise.all(
    basesToFetch(o, text).map(async ({ ref, registry }) => {
      const a = auth(registry);
      if (!a) return;
      await docker.pull(ref, { auth: a }).catch((err: unknown) => {
        log.debug(`${ref} not fetched before the build (the build pulls it): ${messageOf(err)}`);
      });
    }),
  );
}
