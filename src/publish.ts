/** The main step, from inputs to outputs; loaded only when the main step runs. */
import * as core from '@actions/core';
import { userDockerConfigDir } from './docker/login.js';
import { closeSession, openSession, type Session } from './session.js';
import { type BuildCache, saveCache } from './build/cache/cache.js';
import { buildImages, type Image } from './build/step.js';
import { builtBase } from './build/dockerfile.js';
import { daemonBase } from './docker/inspect.js';
import { InputError, messageOf } from './errors.js';
import { currentRun, noSecretsReason, type Run } from './event.js';
import { floatingTags, heldBackTags } from './forward.js';
import { getInputs, type Inputs } from './inputs.js';
import { reuseSources } from './engine/known.js';
import { mergeDigests, publishPlatforms } from './engine/platforms.js';
import type { Logger } from './log.js';
import { computeMeta, metaOptionsFromEnv, workflowContext, type Meta } from './meta/index.js';
import { assertAllPushed, newReport, publishLocalImage, type Report, type Target } from './engine/push.js';
import type { RegistryClient } from './registry/client.js';
import { parseImageName } from './registry/reference.js';
import { reportEnd } from './results.js';
import type { SummaryData } from './summary.js';
import { ProvenanceRecorder } from './provenance/recorder.js';
import { type Attester, attestedRoot, makeAttester } from './engine/attest.js';
import { assertCanAttest, attestPushed, missingError, warnUnsignedOnFailure } from './signing/attest.js';
import { closePreview, closingPullRequest, commentPublished, guardBuild } from './preview/hooks.js';
import type { PullRequest } from './preview/pr.js';

const logger: Logger = {
  debug: (m) => core.debug(m),
  info: (m) => core.info(m),
  warning: (m) => core.warning(m),
};

/** What the step knows before it touches docker or a registry. */
interface Step {
  env: NodeJS.ProcessEnv;
  run: Run;
  ctx: ReturnType<typeof workflowContext>;
  inputs: Inputs;
  meta: Meta;
  targets: Target[];
  /** Why this run has no secrets (a fork's pull request), if it has none. */
  noSecrets?: string;
  /** The pull request this `closed` event is about: its preview is removed, nothing built. */
  closing?: PullRequest;
}

/** The main step's work: inputs, tags, logins, build, push, outputs and summary. */
export async function publish(): Promise<void> {
  const s = readStep();
  if (s.closing)
    return closePreview({
      inputs: s.inputs,
      targets: s.targets,
      ctx: s.ctx,
      metaOptions: metaOptionsFromEnv(s.env),
      pr: s.closing,
      env: s.env,
      userConfigDir: userDockerConfigDir(),
    });
  await guardBuild(s.inputs, s.ctx.eventName, s.run.payload);
  const { inputs, meta } = s;
  const skipped =
    inputs.push === 'false'
      ? 'push is false'
      : inputs.push === 'auto' && s.noSecrets
        ? s.noSecrets
        : undefined;
  if (!inputs.pushByDigest && !inputs.dryRun && !skipped && meta.tagNames.length === 0)
    throw new InputError(
      'tags',
      inputs.tags || '(default rules)',
      `no tag rule produced a tag for ${s.ctx.eventName} on ${s.ctx.ref || '(no ref)'}; add a rule for this event (e.g. type=raw,value=...)`,
    );
  if (inputs.attest && !inputs.dryRun && !skipped) await assertCanAttest(s.env, inputs.githubToken);
  const plan = planOf(s);
  const summary: SummaryData = {
    version: meta.version,
    dryRun: inputs.dryRun,
    skipped,
    plan,
    labels: meta.labels,
    annotations: meta.annotations,
    heldBack: [],
  };
  const done: { imageId: string; report?: Report } = { imageId: '' };
  let failure: unknown;
  try {
    if (inputs.dryRun) sayDryRun(s, plan, summary);
    else await buildAndPush(s, summary, skipped, done);
  } catch (err) {
    failure = err;
    throw err;
  } finally {
    const pushPlan = inputs.dryRun || skipped ? undefined : plan;
    await reportEnd({ meta, sepTags: inputs.sepTags, ...done, summary, pushPlan, failure });
  }
}

function readStep(): Step {
  const env = process.env;
  const run = currentRun();
  const ctx = workflowContext(run, env);
  const noSecrets = noSecretsReason(run.eventName, run.payload, run.actor);
  const closing = closingPullRequest(run.eventName, run.payload);
  const inputs = getInputs(noSecrets !== undefined, { closing: closing !== undefined });
  const meta = computeMeta(inputs, ctx, metaOptionsFromEnv(env));
  for (const w of meta.warnings) core.warning(w);
  // Like metadata-action we lower-case image names (so `ghcr.io/${{ github.repository }}` works
  // for owners with capitals), but say so: the pushed name differs from the one written.
  if (/[A-Z]/.test(inputs.images))
    core.warning(
      `Input "images" has upper-case letters; registries accept only lower case, so it pushes ${meta.images.join(', ')}`,
    );
  return { env, run, ctx, inputs, meta, targets: targetsOf(meta), noSecrets, closing };
}

function targetsOf(meta: Meta): Target[] {
  return meta.images.map((name) => {
    // meta has already checked the name (no tag or digest in it); this splits host and path.
    let parsed;
    try {
      parsed = parseImageName(name);
    } catch (err) {
      throw new InputError('images', name, messageOf(err));
    }
    return { name, registry: parsed.registry, repository: parsed.repository, tags: [...meta.tagNames] };
  });
}

/** Every ref the step pushes (or would), with its registry and the login that pushes it. */
function planOf(s: Step): SummaryData['plan'] {
  return s.targets.flatMap((t) => {
    const l = s.inputs.logins.find((x) => x.registry === t.registry);
    const login = l ? `login as ${l.username}` : "docker's existing login";
    const refs = s.inputs.pushByDigest ? [`${t.name}@<digest>`] : t.tags.map((tag) => `${t.name}:${tag}`);
    return refs.map((ref) => ({ ref, registry: t.registry, login }));
  });
}

/** The plan, said; a dry run asks neither docker nor any registry anything. */
function sayDryRun(s: Step, plan: SummaryData['plan'], summary: SummaryData): void {
  core.info(
    `Dry run: version ${s.meta.version || '(none)'}; nothing is built or pushed, and neither docker nor any registry is asked anything.`,
  );
  for (const p of plan) core.info(`  would push ${p.ref} to ${p.registry} (${p.login})`);
  const unsettled = s.inputs.latestForwardOnly && !s.inputs.pushByDigest ? floatingOf(s.meta) : [];
  if (unsettled.length) {
    summary.notAsked = `latest-forward-only was not checked (a dry run asks no registry): a real run leaves ${unsettled.join(', ')} where they are on a registry that already holds a release newer than ${s.meta.version}.`;
    core.info(`  ${summary.notAsked}`);
  }
  for (const [k, v] of Object.entries(s.meta.labels)) core.info(`  label ${k}=${v}`);
  for (const a of s.meta.annotations) core.info(`  annotation ${a}`);
  const p = s.inputs.provenance;
  if (p)
    core.info(`  would attach SLSA ${p.version} provenance (mode=${p.mode}); the tags would name an index`);
  if (s.inputs.attest)
    core.info('  would sign a SLSA build provenance attestation for every pushed image with Sigstore');
}

async function buildAndPush(
  s: Step,
  summary: SummaryData,
  skipped: string | undefined,
  done: { imageId: string; report?: Report },
): Promise<void> {
  const session = await openSession(s, logger);
  let failing = false;
  try {
    // A missing source is a bad input: said before any credential problem.
    const source = await session.source;
    if (source) done.imageId = source.id;
    // Every credential is proven before anything is built or pushed.
    await session.checked;
    const tagsFinal = holdBackFloatingTags(s, skipped, session.clients).then((held) => {
      summary.heldBack = held;
    });
    tagsFinal.catch(() => undefined); // awaited before any manifest PUT
    const recorder = s.inputs.provenance
      ? new ProvenanceRecorder(session.docker, s.inputs, s.meta.labels, s.env)
      : undefined;
    await recorder?.started();
    const { images, cache } = await imagesToPush(s, session, recorder, !skipped);
    if (cache) summary.cache = cache.summary;
    if (!source) done.imageId = images.map((i) => i.id).join(',');
    if (skipped) {
      await session.loggedIn;
      core.notice(`Built but not pushed: ${skipped}.`);
      if (s.inputs.attest) core.info(`attest: nothing signed, as nothing was pushed (${skipped}).`);
      return;
    }
    const report = (done.report = newReport());
    const attest = recorder && attesterOf(s.inputs, recorder, s.targets, report);
    summary.provenance = s.inputs.provenance;
    await pushImages(s, session, images, { tagsFinal, attest }, report);
    if (s.inputs.attest) warnUnsignedOnFailure(report, logger);
    assertAllPushed(report);
    if (s.inputs.attest) await signPushed(s, session, report, summary);
    if (cache) {
      const writer = {
        docker: session.docker,
        clients: session.clients,
        auth: session.auth,
        loggedIn: session.loggedIn,
      };
      await saveCache(cache, { ...writer, log: logger }, firstDigest(s.targets, report));
    }
    await session.loggedIn;
    await commentPublished(s.inputs, s.ctx, s.env, report);
  } catch (err) {
    failing = true;
    throw err;
  } finally {
    await closeSession(session, s.inputs, failing);
  }
}

/** Signs every pushed subject; the summary lists them; any left unsigned fail the step by name. */
async function signPushed(s: Step, session: Session, report: Report, summary: SummaryData): Promise<void> {
  core.startGroup('Attest');
  try {
    const result = await attestPushed({
      targets: s.targets,
      clients: session.clients,
      report,
      env: s.env,
      payload: s.run.payload,
      githubToken: s.inputs.githubToken,
      log: logger,
    });
    summary.attested = result;
    if (result.missing.length) throw missingError(result);
  } finally {
    core.endGroup();
  }
}

/** The images to push, one per platform: the `source` image, or what the build makes. */
async function imagesToPush(
  s: Step,
  session: Session,
  recorder: ProvenanceRecorder | undefined,
  pushes: boolean,
): Promise<{ images: Image[]; cache?: BuildCache }> {
  const { inputs } = s;
  if (inputs.mergeDigests.length) return { images: [] };
  if (inputs.source)
    return { images: [{ platform: inputs.platforms[0] ?? '', id: (await session.source!).id }] };
  return buildImages({ ...s, pushes }, session, recorder, logger);
}

/** The digest the first image's registry holds for what was pushed (its first tag's). */
function firstDigest(targets: Target[], report: Report): string | undefined {
  const t = targets[0];
  return t && t.tags.length ? report.digests[`${t.name}:${t.tags[0]}`] : undefined;
}

/** Sends the images to every target: merged legs, several platforms, or one local image. */
async function pushImages(
  s: Step,
  session: Session,
  images: Image[],
  o: { tagsFinal: Promise<void>; attest?: Attester },
  report: Report,
): Promise<void> {
  const { inputs, targets } = s;
  const { clients, docker } = session;
  if (inputs.mergeDigests.length) {
    await o.tagsFinal;
    return mergeDigests(inputs.mergeDigests, targets, clients, logger, report, o.attest);
  }
  const base = await baseOf(s, session);
  const defaultBranch = String(s.run.payload?.repository?.default_branch ?? '');
  const sources = reuseSources(targets, defaultBranch, base);
  if (inputs.platforms.length > 1 || inputs.pushByDigest) {
    await o.tagsFinal;
    const opts = {
      tmpDir: session.tmp,
      byDigest: inputs.pushByDigest,
      log: logger,
      attest: o.attest,
      sources,
      lookupClients: session.lookupClients,
    };
    return publishPlatforms(docker, images, targets, clients, opts, report);
  }
  const opts = {
    log: logger,
    tagsFinal: o.tagsFinal,
    tmpDir: session.tmp,
    sources,
    lookupClients: session.lookupClients,
    base,
    dockerReady: session.loggedIn,
    auth: session.auth,
    inspected: session.source,
    root: o.attest && attestedRoot(o.attest, report),
    inRegistry: images[0]!.at && { ...images[0]!.at, layers: images[0]!.layers ?? [] },
  };
  await publishLocalImage(docker, images[0]!.id, targets, clients, opts, report);
}

/**
 * The base image to reuse layers from, said in the log: the `base` input, else the last FROM of
 * the Dockerfile built, else (a `source` image) the image the daemon says it was built on,
 * named by its registry record on a target's registry where it has one.
 */
async function baseOf(s: Step, session: Session): Promise<string> {
  const { inputs } = s;
  if (inputs.base) {
    core.info(`Base image: ${inputs.base}`);
    return inputs.base;
  }
  if (!inputs.source) {
    const built = builtBase(inputs.file, inputs.buildArgs, inputs.target);
    if (built) core.info(`Base image: ${built}`);
    return built;
  }
  const found = await daemonBase(session.docker, await session.source!).catch(() => undefined);
  if (!found) return '';
  const registries = new Set(s.targets.map((t) => t.registry));
  const onTarget = (r: string) => registries.has(parseImageName(r).registry);
  const ref = found.repoDigests.find(onTarget) ?? found.repoDigests[0]!;
  core.info(`Base image: ${ref} (the daemon's record of the image ${inputs.source} was built on)`);
  return ref;
}

/** Attaches provenance to what is pushed, naming every image:tag (or image alone, by digest). */
function attesterOf(
  inputs: Inputs,
  recorder: ProvenanceRecorder,
  targets: Target[],
  report: Report,
): Attester {
  const tokens = [...inputs.logins.map((l) => l.password), inputs.githubToken];
  const forms = inputs.logins.map((l) => Buffer.from(`${l.username}:${l.password}`).toString('base64'));
  return makeAttester({
    options: inputs.provenance!,
    factsFor: (p) => recorder.factsFor(p),
    refs: () =>
      targets.flatMap((t) =>
        inputs.pushByDigest ? [{ name: t.name }] : t.tags.map((tag) => ({ name: t.name, tag })),
      ),
    secrets: [...tokens, ...forms].filter(Boolean),
    log: logger,
    report,
  });
}

/**
 * With `latest-forward-only`, leaves floating tags alone where the registry already holds a
 * newer release (they are taken out of the targets); only the manifest PUTs wait for this.
 */
async function holdBackFloatingTags(
  s: Step,
  skipped: string | undefined,
  clients: (registry: string) => RegistryClient,
): Promise<SummaryData['heldBack']> {
  const { meta, targets } = s;
  if (!s.inputs.latestForwardOnly || s.inputs.pushByDigest || skipped) return [];
  const latestTag = latestTagOf(meta);
  const out: SummaryData['heldBack'] = [];
  const existing = await Promise.all(targets.map((t) => clients(t.registry).listTags(t.repository)));
  for (const [i, t] of targets.entries()) {
    const held = heldBackTags(meta.version, t.tags, latestTag, existing[i]!);
    for (const h of held) {
      out.push({ ref: `${t.name}:${h.tag}`, held: h });
      core.notice(
        `Left ${t.name}:${h.tag} where it is: ${t.name}:${h.newer} is a newer release than ${meta.version}.`,
      );
    }
    t.tags = t.tags.filter((tag) => !held.some((h) => h.tag === tag));
  }
  return out;
}

/** The tag that stands for `latest` (flavor `latest` puts it last, with its prefix and suffix). */
function latestTagOf(meta: Meta): string | undefined {
  return meta.latest ? meta.tagNames[meta.tagNames.length - 1] : meta.tagNames.find((t) => t === 'latest');
}

/** The floating tags a real run would decide on by the registries' releases. */
function floatingOf(meta: Meta): string[] {
  return floatingTags(meta.version, meta.tagNames, latestTagOf(meta));
}
