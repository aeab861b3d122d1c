/**
 * The step's builds: the builder chosen and said, what it cannot do refused before anything is
 * built, the build cache read, the stages a multi-stage Dockerfile needs built (and cached) on
 * their own, then the image for each platform, each build's cache hits said.
 */
import * as core from '@actions/core';
import type { Inputs } from '../inputs.js';
import type { Logger } from '../log.js';
import type { Target } from '../engine/push.js';
import type { Run } from '../event.js';
import type { ProvenanceRecorder } from '../provenance/recorder.js';
import type { Session } from '../session.js';
import { mkdtemp, rm } from 'node:fs/promises';
import * as path from 'node:path';
import { inspectImage } from '../docker/inspect.js';
import { messageOf } from '../errors.js';
import { parseImageName } from '../registry/reference.js';
import { fetchBases } from './bases.js';
import { build } from './build.js';
import { builtBase } from './dockerfile.js';
import { labelImage } from './labels.js';
import { daemonWouldPush, deletesAllowed, relabel, type Relabelled } from './relabel.js';
import { cacheTag } from './cache/stages.js';
import { type Builder, detectBuilder } from './builder.js';
import { type BuildCache, type CacheStep, lookUpCache, noteBuild, prepareCache } from './cache/cache.js';
import { assertBuilderCan } from './features.js';
import type { ClassicStages } from './stagelog.js';

/** What the builds need of the step. */
export interface BuildStep {
  inputs: Inputs;
  meta: { labels: Record<string, string>; tags: string[] };
  targets: Target[];
  run: Run;
  /** Why this run has no secrets (a fork's pull request), if it has none. */
  noSecrets?: string;
  /** The step pushes what it builds (not a build-only run). */
  pushes: boolean;
}

/** A built image; `at` when its manifest is in a registry already (relabel.ts). */
export type Image = { platform: string; id: string; at?: Relabelled['at']; layers?: Relabelled['layers'] };

/** Builds the image of every platform; the cache it read, for the step to write after the push. */
export async function buildImages(
  s: BuildStep,
  session: Session,
  recorder: ProvenanceRecorder | undefined,
  log: Logger,
): Promise<{ images: Image[]; cache: BuildCache }> {
  const { inputs } = s;
  // Local tags only make sense for a single image; platforms would overwrite each other.
  const multi = inputs.platforms.length > 1 || inputs.pushByDigest;
  const step = cacheStepOf(s, session, multi, log);
  const looked = lookUpCache(step);
  // A build this builder cannot run fails here, before the logins are waited for.
  const builder = await detectBuilder(session.docker);
  core.info(`Builder: ${builder.description}`);
  assertBuilderCan(builder, inputs);
  const bases =
    builder.kind === 'classic' ? fetchBases(session.docker, inputs, session.auth, log) : undefined;
  const cache = await prepareCache({ ...step, builder }, looked);
  await session.loggedIn; // FROM and --pull may need the registry's credentials
  await bases;
  // Asked while the image builds: whether the classic builder's labels can skip the LABEL step.
  const relabel = relabelAllowed(s, session, builder, cache, multi);
  const images: Image[] = [];
  for (const platform of inputs.platforms.length ? inputs.platforms : ['']) {
    // BuildKit builds each cached stage on its own first; the classic builder's one build
    // leaves every stage's image behind, tagged afterwards (keepClassicStages).
    if (builder.kind !== 'classic') await buildStages(s, session, builder, cache, log, platform);
    core.startGroup(`Build${platform ? ` ${platform}` : ''}`);
    try {
      // The classic builder's labels may be written without a container once it is built.
      const later = labelsLater(s, builder, cache, multi);
      const tags = multi ? [] : s.meta.tags;
      const options = {
        ...inputs,
        ...cacheOptions(cache, builder),
        labels: later ? {} : s.meta.labels,
        platform: platform || undefined,
        tags: later ? [] : tags,
      };
      const { resolvedBases, stats, stages, ...built } = await build(session.docker, options, builder, log);
      if (stages) await keepClassicStages(session, cache, stages, log);
      const image = later ? await labelClassic(s, session, cache, built.id, platform, relabel, log) : built;
      images.push({ platform, ...image });
      await recorder?.built(platform, resolvedBases);
      const { id } = image;
      core.info(`Built ${id}${platform ? ` for ${platform}` : ''}`);
      sayCachedSteps(cache, 'the image', stats);
      noteBuild(cache, '', stats);
    } finally {
      core.endGroup();
    }
  }
  return { images, cache };
}

/**
 * The classic build's labels: written into the config when the daemon would push the image
 * anyway (relabel.ts), else by one LABEL step; local tags either way.
 */
async function labelClassic(
  s: BuildStep,
  session: Session,
  cache: BuildCache,
  id: string,
  platform: string,
  allowed: Promise<boolean>,
  log: Logger,
): Promise<Omit<Image, 'platform'>> {
  const { labels, tags } = s.meta;
  const { repo, scope } = cache.write!;
  const image = await inspectImage(session.docker, id);
  const base = builtBase(s.inputs.file, s.inputs.buildArgs, s.inputs.target);
  const wouldPush =
    Object.keys(labels).length > 0 && (await daemonWouldPush(session.docker, image, base, repo.registry));
  if (wouldPush && !(await allowed))
    log.info(
      `Labels by a LABEL step: ${repo.registry} does not let the step delete the unlabelled manifest it would push first`,
    );
  else if (wouldPush) {
    try {
      const r = await relabel(image, {
        docker: session.docker,
        client: session.clients(repo.registry),
        auth: session.auth(repo.registry),
        loggedIn: session.loggedIn,
        repo,
        tag: cacheTag(scope),
        labels,
        tags,
        log,
      });
      // The cache tag now names the unlabelled image: it is rewritten after the push, whatever it held.
      cache.unchanged.delete('');
      cache.unlabelled = r.unlabelled;
      return { id: r.id, at: r.at, layers: r.layers };
    } catch (err) {
      log.info(`Labels by a LABEL step instead: ${messageOf(err).split('\n')[0]}`);
    }
  }
  const dir = await mkdtemp(path.join(session.tmp, 'labels-'));
  try {
    return { id: await labelImage(session.docker, id, labels, tags, dir, platform || undefined) };
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

/** A single classic image the step pushes and caches: its labels may go on after the build. */
function labelsLater(s: BuildStep, builder: Builder, cache: BuildCache, multi: boolean): boolean {
  return builder.kind === 'classic' && !multi && s.pushes && !s.inputs.provenance && !!cache.write;
}

/** For a classic build that writes its cache: whether that registry deletes (relabel.ts). */
function relabelAllowed(
  s: BuildStep,
  session: Session,
  builder: Builder,
  cache: BuildCache,
  multi: boolean,
): Promise<boolean> {
  const w = cache.write;
  if (!labelsLater(s, builder, cache, multi) || !w) return Promise.resolve(false);
  // Asked only where the path may be taken: labels to write, a base in the cache's registry.
  const base = builtBase(s.inputs.file, s.inputs.buildArgs, s.inputs.target);
  let onRegistry = false;
  try {
    onRegistry = base !== '' && parseImageName(base).registry === w.repo.registry;
  } catch {
    // not a name the registry client reads: no relabel
  }
  if (!onRegistry || Object.keys(s.meta.labels).length === 0) return Promise.resolve(false);
  return session.loggedIn.then(
    () => deletesAllowed(session.clients(w.repo.registry), w.repo.repository),
    () => false,
  );
}

function cacheStepOf(
  s: BuildStep,
  session: Session,
  multi: boolean,
  log: Logger,
): Omit<CacheStep, 'builder'> {
  const payload = s.run.payload ?? {};
  const pr = Number(payload.pull_request?.number ?? payload.number);
  return {
    inputs: s.inputs,
    repos: s.targets,
    run: {
      eventName: s.run.eventName,
      ref: s.run.ref,
      pullRequest: Number.isInteger(pr) && pr > 0 ? pr : undefined,
      defaultBranch: String(payload.repository?.default_branch ?? ''),
      noSecrets: s.noSecrets !== undefined,
    },
    clients: session.lookupClients,
    docker: session.docker,
    auth: session.auth,
    loggedIn: session.loggedIn,
    multi,
    log,
  };
}

/** The cache flags of one build: the classic builder's reads every source; BuildKit's, its entry's. */
export function cacheOptions(cache: BuildCache, builder: Builder, key = '') {
  const own = cache.entries[key];
  return {
    cacheFrom: builder.kind === 'classic' ? cache.cacheFrom : [...(own ? [own] : []), ...cache.userFrom],
    cacheTo: cache.cacheTo,
    inlineCache: cache.inlineCache,
  };
}

/** One line in the log and the summary: how much of a build came from the cache. */
function sayCachedSteps(cache: BuildCache, what: string, stats: { steps: number; cached: number }): void {
  const line = `${stats.cached} of ${stats.steps} RUN/COPY/ADD steps of ${what} came from the cache`;
  core.info(line);
  cache.summary.push(`- ${line}.`);
}

/**
 * The classic builder's stage images, from its log, tagged as the stage entries; a stage whose
 * image the log did not name is left out of what the step writes (and said).
 */
async function keepClassicStages(
  session: Session,
  cache: BuildCache,
  stages: ClassicStages,
  log: Logger,
): Promise<void> {
  const kept: BuildCache['stages'] = [];
  for (const stage of cache.stages) {
    const id = stages.imageOf(stage.name);
    if (!id) {
      log.info(`Build cache: the log named no image for stage ${stage.name}; its entry is not written`);
      continue;
    }
    await session.docker.tag(id, stage.localRef);
    const stats = stages.statsOf(stage.name);
    sayCachedSteps(cache, `stage ${stage.name}`, stats);
    noteBuild(cache, stage.key, stats);
    kept.push(stage);
  }
  cache.stages = kept;
}

/** The stages the image needs, each built alone (and tagged) so that it can be cached. */
async function buildStages(
  s: BuildStep,
  session: Session,
  builder: Builder,
  cache: BuildCache,
  log: Logger,
  platform: string,
): Promise<void> {
  for (const stage of cache.stages) {
    core.startGroup(`Build stage ${stage.name} (for the build cache)`);
    try {
      const options = {
        ...s.inputs,
        ...cacheOptions(cache, builder, stage.key),
        cacheTo: [],
        target: stage.name,
        platform: platform || undefined,
        labels: {},
        tags: [stage.localRef],
      };
      const { stats } = await build(session.docker, options, builder, log);
      sayCachedSteps(cache, `stage ${stage.name}`, stats);
      noteBuild(cache, stage.key, stats);
    } finally {
      core.endGroup();
    }
  }
}
