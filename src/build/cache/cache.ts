/**
 * The build cache of one step, on by default: before the build, which cache entries the run
 * may read and which of them exist (registry HEADs, side by side with the logins), the images
 * the classic builder needs pulled, and the builds of the stages a multi-stage Dockerfile
 * needs; after the push, the entries this run writes. See scope.ts for who reads and writes
 * what, stages.ts for the tags, sources.ts and write.ts for the registry side.
 */
import { readFileSync } from 'node:fs';
import type { Docker } from '../../docker/cli.js';
import type { EngineAuth } from '../../docker/engine.js';
import { messageOf } from '../../errors.js';
import { parseImageName } from '../../registry/reference.js';
import type { Logger } from '../../log.js';
import type { RegistryClient } from '../../registry/client.js';
import type { Builder } from '../builder.js';
import type { BuildInputs } from '../inputs.js';
import { cacheFlags } from './options.js';
import { type CacheRun, type CacheScopes, cacheScopes } from './scope.js';
import { type CacheRepo, type CacheSources, describeSources, findCacheSources } from './sources.js';
import { type CachedStage, cacheTag, neededStages } from './stages.js';
import { describeWrite, writeCache } from './write.js';

export interface CacheStep {
  inputs: BuildInputs;
  builder: Builder;
  /** The images this step publishes, in `images` order: the cache lives beside them. */
  repos: CacheRepo[];
  run: CacheRun;
  clients: (registry: string) => RegistryClient;
  docker: Docker;
  auth: (registry: string) => EngineAuth | undefined;
  loggedIn: Promise<void>;
  /** Several platforms or push-by-digest legs: no automatic cache (one image per run only). */
  multi: boolean;
  log: Logger;
}

/** What every build of the step adds for the cache, and what the step writes afterwards. */
export interface BuildCache {
  /** Every source: the one build of the classic builder reads them all. */
  cacheFrom: string[];
  /**
   * BuildKit's builds read only their own entry (by stage key, '' for the image) and the
   * `cache-from` input: docker 20.10's BuildKit can miss a step when several inline caches are
   * imported at once (moby/buildkit#3730), and a stage's build has no use for another's.
   */
  entries: Record<string, string>;
  userFrom: string[];
  cacheTo: string[];
  inlineCache: boolean;
  /** The stages kept as entries of their own, in Dockerfile order (see step.ts for how each builder makes them). */
  stages: (CachedStage & { name: string; localRef: string })[];
  /** Where this run writes; undefined when it writes nothing. */
  write?: { scope: string; repo: CacheRepo };
  /**
   * Entries (by stage key, '' for the image) this run read from the very tag it writes and
   * rebuilt wholly from the cache: rewriting them would change nothing but their metadata, and
   * BuildKit's inline metadata of a build served wholly from cache can describe less than the
   * entry it came from (moby/buildkit#3660), so such an entry is left as it is.
   */
  unchanged: Set<string>;
  /** Entries found under the scope this run writes, by stage key ('' for the image). */
  own: Set<string>;
  /**
   * The unlabelled image's manifest this run pushed to its cache tag before the publish (a
   * classic build labelled by relabel.ts): deleted once the tag names the published image.
   */
  unlabelled?: string;
  /** Lines for the job summary (names and refs only). */
  summary: string[];
}

/** buildx's driver, asked only when a cache export needs to know it. */
async function buildxDriver(docker: Docker): Promise<string> {
  const out = await docker.run(['buildx', 'inspect']).catch(() => ({ stdout: '' }));
  return /^Driver:\s*(\S+)/m.exec(out.stdout)?.[1] ?? '';
}

/** Pulls what the classic builder needs in the daemon; a pull that fails is a warning. */
async function pullForClassic(c: CacheStep, refs: string[]): Promise<string[]> {
  const pulled = await Promise.all(
    refs.map(async (ref) => {
      try {
        // The step's own credentials for the ref's registry where it has them (any cache-from
        // image, not only the cache beside its images); else docker's login.
        const auth = c.auth(parseImageName(ref).registry);
        await c.docker.pull(ref, { auth, loggedIn: c.loggedIn });
        return ref;
      } catch (err) {
        c.log.warning(
          `Build cache ${ref} could not be pulled, building without it: ${messageOf(err).split('\n')[0]}`,
        );
        return undefined;
      }
    }),
  );
  return pulled.filter((r): r is string => r !== undefined);
}

/** The stages worth caching: needed by the build, and named (`--target` takes only names). */
function stagesOf(c: Omit<CacheStep, 'builder'>, scopes: CacheScopes): BuildCache['stages'] {
  let text: string;
  try {
    text = readFileSync(c.inputs.file, 'utf8');
  } catch {
    return [];
  }
  const needed = neededStages(text, c.inputs.buildArgs, c.inputs.target);
  const unnamed = needed.filter((s) => !s.name);
  if (unnamed.length)
    c.log.info(
      `Build cache: stage ${unnamed.map((s) => s.index).join(', ')} has no name (FROM … AS name), so it is not cached on its own`,
    );
  const scope = scopes.write ?? 'local';
  return needed
    .filter((s): s is CachedStage & { name: string } => !!s.name)
    .map((s) => ({ ...s, localRef: `${c.repos[0]!.name}:${cacheTag(scope, s.key)}` }));
}

/** What the automatic cache reads, and what of it exists: asked before the builder is known. */
export interface CacheLookups {
  scopes: CacheScopes;
  stages: BuildCache['stages'];
  sources: CacheSources;
}

/**
 * The registry's answers on the cache entries (HEADs), started as soon as the step knows its
 * images: they need no builder, and the builder's detection starts processes of its own.
 * Undefined when the automatic cache is off; never rejects.
 */
export function lookUpCache(c: Omit<CacheStep, 'builder'>): Promise<CacheLookups> | undefined {
  if (!c.inputs.cache || c.multi || c.repos.length === 0) return undefined;
  const scopes = cacheScopes(c.run);
  const stages = stagesOf(c, scopes);
  const sources: Promise<CacheSources> = c.inputs.noCache
    ? Promise.resolve({ lookups: [], refs: [] })
    : findCacheSources(c.repos, scopes, stages, c.clients, c.log);
  return sources.then((found) => ({ scopes, stages, sources: found }));
}

/** Everything before the build: throws (before it) when a cache input cannot work here. */
export async function prepareCache(c: CacheStep, looked = lookUpCache(c)): Promise<BuildCache> {
  const { inputs, builder } = c;
  const driver = builder.kind === 'buildx' && inputs.cacheTo.length ? await buildxDriver(c.docker) : '';
  const flags = cacheFlags(builder, inputs.cacheFrom, inputs.cacheTo, driver);
  const base: BuildCache = {
    cacheFrom: flags.from,
    entries: {},
    userFrom: flags.from,
    cacheTo: flags.to,
    inlineCache: flags.inline && builder.kind !== 'classic',
    stages: [],
    summary: [],
    unchanged: new Set(),
    own: new Set(),
  };
  const off = !inputs.cache
    ? 'off (input cache: false)'
    : c.multi
      ? 'not kept for multi-platform or push-by-digest builds'
      : c.repos.length === 0
        ? 'no image to keep it beside'
        : undefined;
  if (off) {
    c.log.info(`Build cache: ${off}`);
    base.summary.push(`Automatic cache ${off}.`);
    if (flags.pull.length) await pullForClassic(c, flags.pull);
    return base;
  }
  const { scopes, stages, sources } = (await looked)!;
  for (const line of inputs.noCache
    ? ['Build cache: not read (no-cache: true)']
    : describeSources(sources, scopes))
    c.log.info(line);
  if (scopes.noWrite) c.log.info(`Build cache: this run writes none: ${scopes.noWrite}`);
  const from = [...sources.refs, ...flags.from];
  if (builder.kind === 'classic') await pullForClassic(c, [...sources.refs, ...flags.pull]);
  return {
    ...base,
    cacheFrom: from,
    entries: Object.fromEntries(sources.lookups.flatMap((l) => (l.ref ? [[l.key, l.ref]] : []))),
    inlineCache: builder.kind !== 'classic',
    stages,
    write: scopes.write ? { scope: scopes.write, repo: c.repos[0]! } : undefined,
    summary: summaryOfSources(sources, scopes),
    own: new Set(
      sources.lookups
        .filter(
          (l) =>
            scopes.write && l.ref === `${c.repos[0]!.name}:${cacheTag(scopes.write, l.key || undefined)}`,
        )
        .map((l) => l.key),
    ),
  };
}

function summaryOfSources(s: CacheSources, scopes: CacheScopes): string[] {
  const out = [
    `Read from (in order): ${scopes.read.map((x) => `\`${cacheTag(x)}\``).join(', ') || 'nothing'}.`,
  ];
  for (const l of s.lookups) {
    const what = l.key ? `stage \`${l.key}\`` : 'image';
    out.push(`- ${what}: ${l.ref ? `\`${l.ref}\`` : 'none yet'}`);
  }
  if (!scopes.write) out.push(`Written: nothing (${scopes.noWrite}).`);
  return out;
}

/** Notes how a build (a stage's, or the image's: key '') went, for what the step writes. */
export function noteBuild(cache: BuildCache, key: string, stats: { steps: number; cached: number }): void {
  if (cache.own.has(key) && stats.steps > 0 && stats.cached === stats.steps) cache.unchanged.add(key);
}

/** After the push: the stage images and the image's entry; a failure is a warning, never the step's. */
export async function saveCache(
  cache: BuildCache,
  c: Pick<CacheStep, 'docker' | 'clients' | 'auth' | 'loggedIn' | 'log'>,
  imageDigest: string | undefined,
): Promise<void> {
  if (!cache.write) return;
  const { repo, scope } = cache.write;
  try {
    const stages = cache.stages.filter((s) => !cache.unchanged.has(s.key));
    const kept = [...cache.unchanged].map((k) => `\`${cacheTag(scope, k || undefined)}\``);
    if (kept.length) c.log.info(`Build cache kept as it is (rebuilt wholly from it): ${kept.join(', ')}`);
    const result = await writeCache(
      {
        repo,
        scope,
        stages: stages.map((s) => ({ key: s.key, localRef: s.localRef })),
        imageDigest: cache.unchanged.has('') ? undefined : imageDigest,
        unlabelled: cache.unlabelled,
      },
      c.docker,
      c.clients(repo.registry),
      { auth: c.auth(repo.registry), loggedIn: c.loggedIn, log: c.log },
    );
    const lines = describeWrite(result);
    for (const line of lines) c.log.info(line);
    cache.summary.push(`Written: ${result.written.map((w) => `\`${w.ref}\``).join(', ') || 'nothing'}.`);
    if (kept.length) cache.summary.push(`Kept as they were (rebuilt wholly from them): ${kept.join(', ')}.`);
  } catch (err) {
    c.log.warning(
      `The build cache was not written (${repo.name}, ${scope}): ${messageOf(err).split('\n')[0]}`,
    );
    cache.summary.push(`Not written: ${messageOf(err).split('\n')[0]}`);
  }
}
