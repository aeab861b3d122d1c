/** The main step, from inputs to outputs; loaded only when the main step runs. */
import { readFileSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import * as os from 'node:os';
import * as path from 'node:path';
import { checkLogin, createConfigDir, dockerLogin, userDockerConfigDir } from './docker/login.js';
import { build, hasBuildx, localImageId } from './docker/build.js';
import { baseImageOf } from './docker/dockerfile.js';
import { Docker } from './docker/cli.js';
import { InputError, messageOf } from './errors.js';
import { currentRun, noSecretsReason } from './event.js';
import { heldBackTags, type HeldBack } from './forward.js';
import { getInputs, type Inputs } from './inputs.js';
import { reuseSources } from './engine/known.js';
import { mergeDigests, publishPlatforms } from './engine/platforms.js';
import type { Logger } from './log.js';
import { computeMeta, metaOptionsFromEnv, workflowContext, type Meta } from './meta/index.js';
import { assertAllPushed, newReport, publishLocalImage, type Report, type Target } from './engine/push.js';
import { RegistryClient } from './registry/client.js';
import { type CredentialLookup, dockerConfigCredentials, staticCredentials } from './registry/credentials.js';
import { parseImageName } from './registry/reference.js';
import { DEFAULT_RETRY, type RetryPolicy } from './registry/retry.js';
// The runner's protocol (inputs, masks, outputs, state, annotations, summary), as @actions/core speaks it.
import * as runner from '@actions/core';
import { renderSummary, type SummaryData } from './summary.js';
import { ProvenanceRecorder } from './provenance/recorder.js';
import { type Attester, attestedRoot, makeAttester } from './engine/attest.js';
import { closePreview, closingPullRequest, commentPublished, guardBuild } from './preview/hooks.js';

const logger: Logger = {
  debug: (m) => runner.debug(m),
  info: (m) => runner.info(m),
  warning: (m) => runner.warning(m),
};

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

function retryPolicy(inputs: Inputs): RetryPolicy {
  return { ...DEFAULT_RETRY, attempts: inputs.retryAttempts, totalMs: inputs.retryTimeoutSeconds * 1000 };
}

/** The main step's work: inputs, tags, logins, build, push, outputs and summary. */
export async function publish(): Promise<void> {
  const env = process.env;
  const run = currentRun();
  const ctx = workflowContext(run, env);
  const noSecrets = noSecretsReason(run.eventName, run.payload, run.actor);
  const closing = closingPullRequest(run.eventName, run.payload);
  const inputs = getInputs(noSecrets !== undefined, { closing: closing !== undefined });
  const metaOptions = metaOptionsFromEnv(env);
  const meta = computeMeta(inputs, ctx, metaOptions);
  for (const w of meta.warnings) runner.warning(w);
  // Like metadata-action we lower-case image names (so `ghcr.io/${{ github.repository }}` works
  // for owners with capitals), but say so: the pushed name differs from the one written.
  if (/[A-Z]/.test(inputs.images))
    runner.warning(
      `Input "images" has upper-case letters; registries accept only lower case, so it pushes ${meta.images.join(', ')}`,
    );
  const targets = targetsOf(meta);
  // A closed pull request builds nothing: its preview is removed instead.
  if (closing)
    return closePreview({
      inputs,
      targets,
      ctx,
      metaOptions,
      pr: closing,
      env,
      userConfigDir: userDockerConfigDir(),
    });
  await guardBuild(inputs, ctx.eventName, run.payload);
  const byDigest = inputs.pushByDigest;
  const loginFor = (registry: string) => inputs.logins.find((l) => l.registry === registry);

  const skipped =
    inputs.push === 'false' ? 'push is false' : inputs.push === 'auto' && noSecrets ? noSecrets : undefined;
  if (!byDigest && !inputs.dryRun && !skipped && meta.tagNames.length === 0)
    throw new InputError(
      'tags',
      inputs.tags || '(default rules)',
      `no tag rule produced a tag for ${ctx.eventName} on ${ctx.ref || '(no ref)'}; add a rule for this event (e.g. type=raw,value=...)`,
    );

  const plan = targets.flatMap((t) => {
    const l = loginFor(t.registry);
    const login = l ? `login as ${l.username}` : "docker's existing login";
    const refs = byDigest ? [`${t.name}@<digest>`] : t.tags.map((tag) => `${t.name}:${tag}`);
    return refs.map((ref) => ({ ref, registry: t.registry, login }));
  });
  const summary: SummaryData = {
    version: meta.version,
    dryRun: inputs.dryRun,
    skipped,
    plan,
    labels: meta.labels,
    annotations: meta.annotations,
    heldBack: [],
  };
  let report: Report | undefined;
  let failure: unknown;
  let imageId = '';
  let tmp: string | undefined;
  try {
    if (inputs.dryRun) {
      runner.info(`Dry run: version ${meta.version || '(none)'}; nothing is built or pushed.`);
      for (const p of plan) runner.info(`  would push ${p.ref} to ${p.registry} (${p.login})`);
      for (const [k, v] of Object.entries(meta.labels)) runner.info(`  label ${k}=${v}`);
      for (const a of meta.annotations) runner.info(`  annotation ${a}`);
      const p = inputs.provenance;
      if (p)
        runner.info(
          `  would attach SLSA ${p.version} provenance (mode=${p.mode}); the tags would name an index`,
        );
      return;
    }
    const policy = retryPolicy(inputs);
    const userConfig = userDockerConfigDir();
    let configDir: string | undefined;
    if (inputs.logins.length) {
      configDir = await createConfigDir(env.RUNNER_TEMP ?? '', userConfig);
      runner.saveState('configDir', configDir);
      runner.saveState('logout', String(inputs.logout));
    }
    const docker = new Docker(logger, configDir);
    const userCreds = dockerConfigCredentials(userConfig);
    const clientCache = new Map<string, RegistryClient>();
    const clientFor = (registry: string, p: RetryPolicy, timeoutMs?: number) => {
      const key = `${registry} ${p === policy ? '' : 'lookup'}`;
      let c = clientCache.get(key);
      if (!c) {
        const l = loginFor(registry);
        const credentials: CredentialLookup = l
          ? staticCredentials({ [registry]: { username: l.username, password: l.password } })
          : userCreds;
        c = new RegistryClient({ registry, credentials, policy: p, log: logger, timeoutMs });
        clientCache.set(key, c);
      }
      return c;
    };
    const clients = (registry: string) => clientFor(registry, policy);
    // Reading a base on a registry nothing is pushed to is best effort: a short leash, so an
    // unreachable one costs seconds, not the push's retry budget.
    const lookupClients = (registry: string) =>
      targets.some((t) => t.registry === registry)
        ? clients(registry)
        : clientFor(registry, LOOKUP_RETRY, 10_000);

    const platforms = inputs.platforms;
    const multi = platforms.length > 1 || byDigest;
    tmp = await mkdtemp(path.join(env.RUNNER_TEMP || os.tmpdir(), 'publish-image-blobs-'));
    // A missing source is a bad input: found out before any registry hears from us.
    if (inputs.source) imageId = await localImageId(docker, inputs.source);
    // Every credential is proven, side by side, before anything is built or pushed.
    await Promise.all(
      inputs.logins.map((l) =>
        checkLogin(clients(l.registry), l, targets.find((t) => t.registry === l.registry)?.repository),
      ),
    );
    // `docker login` one after another (concurrent writes to one config.json can lose a
    // credential), and off the critical path: only docker's own registry traffic needs it.
    const loggedIn = (async () => {
      for (const l of inputs.logins) await dockerLogin(docker, l, policy, logger);
    })();
    loggedIn.catch(() => undefined); // awaited below; never an unhandled rejection
    // Floating tags that stay where they are; only the manifest PUTs wait for the answer.
    const tagsFinal = (
      inputs.latestForwardOnly && !byDigest && !skipped
        ? holdBack(meta, targets, clients)
        : Promise.resolve<SummaryData['heldBack']>([])
    ).then((held) => {
      summary.heldBack = held;
    });
    tagsFinal.catch(() => undefined);

    const recorder = inputs.provenance ? new ProvenanceRecorder(docker, inputs, meta.labels, env) : undefined;
    await recorder?.started();
    const images: { platform: string; id: string }[] = [];
    if (inputs.mergeDigests.length === 0) {
      if (inputs.source) images.push({ platform: platforms[0] ?? '', id: imageId });
      else {
        await loggedIn; // FROM and --pull may need the registry's credentials
        const buildx = await hasBuildx(docker);
        for (const platform of platforms.length ? platforms : ['']) {
          runner.startGroup(`Build${platform ? ` ${platform}` : ''}`);
          try {
            const id = await build(
              docker,
              {
                ...inputs,
                labels: meta.labels,
                platform: platform || undefined,
                // Local tags only make sense for a single image; platforms would overwrite each other.
                tags: multi ? [] : meta.tags,
              },
              buildx,
              logger,
            );
            images.push({ platform, id });
            await recorder?.built(platform);
            runner.info(`Built ${id}${platform ? ` for ${platform}` : ''}`);
          } finally {
            runner.endGroup();
          }
        }
      }
      if (!inputs.source) imageId = images.map((i) => i.id).join(',');
    }
    if (skipped) {
      await loggedIn;
      runner.notice(`Built but not pushed: ${skipped}.`);
      return;
    }

    report = newReport();
    const attest = recorder && attesterOf(inputs, recorder, targets, report);
    summary.provenance = inputs.provenance;
    if (inputs.mergeDigests.length || multi) {
      await tagsFinal;
      if (inputs.mergeDigests.length)
        await mergeDigests(inputs.mergeDigests, targets, clients, logger, report, attest);
      else
        await publishPlatforms(
          docker,
          images,
          targets,
          clients,
          { tmpDir: tmp, byDigest, log: logger, attest },
          report,
        );
    } else {
      const base = inputs.base || (inputs.source ? '' : baseOfDockerfile(inputs));
      if (base) runner.info(`Base image: ${base}`);
      const defaultBranch = String(run.payload?.repository?.default_branch ?? '');
      const opts = {
        log: logger,
        tagsFinal,
        tmpDir: tmp,
        sources: reuseSources(targets, defaultBranch, base),
        lookupClients,
        base,
        dockerReady: loggedIn,
        root: attest && attestedRoot(attest, report),
      };
      await publishLocalImage(docker, images[0]!.id, targets, clients, opts, report);
    }
    assertAllPushed(report);
    await loggedIn;
    await commentPublished(inputs, ctx, env, report);
  } catch (err) {
    failure = err;
    throw err;
  } finally {
    if (tmp) await rm(tmp, { recursive: true, force: true });
    // A push that stopped early (a refused login, a failed build) pushed none of what is left.
    if (!inputs.dryRun && !skipped) report = withUnpushed(report ?? newReport(), plan, summary, failure);
    setOutputs(meta, inputs.sepTags, imageId, report, summary);
    await writeSummary(renderSummary({ ...summary, report })).catch((err: unknown) => {
      runner.warning(`Could not write the job summary: ${messageOf(err)}`);
    });
  }
}

const LOOKUP_RETRY: RetryPolicy = { attempts: 2, baseDelayMs: 250, maxDelayMs: 1000, totalMs: 5000 };

/** The last FROM of the Dockerfile that was built, when it can be read; '' otherwise. */
function baseOfDockerfile(inputs: Inputs): string {
  try {
    const from = baseImageOf(readFileSync(inputs.file, 'utf8'), inputs.buildArgs, inputs.target);
    if (!from) return '';
    parseImageName(from); // a name docker would refuse is no base to reuse
    return from;
  } catch {
    return '';
  }
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

async function writeSummary(markdown: string): Promise<void> {
  await runner.summary.addRaw(markdown).write();
}

/** Leaves floating tags alone when the registry already holds a newer release. */
async function holdBack(
  meta: Meta,
  targets: Target[],
  clients: (registry: string) => RegistryClient,
): Promise<SummaryData['heldBack']> {
  const latestTag = meta.latest
    ? meta.tagNames[meta.tagNames.length - 1]
    : meta.tagNames.find((t) => t === 'latest');
  const out: { ref: string; held: HeldBack }[] = [];
  const existing = await Promise.all(targets.map((t) => clients(t.registry).listTags(t.repository)));
  for (const [i, t] of targets.entries()) {
    const held = heldBackTags(meta.version, t.tags, latestTag, existing[i]!);
    for (const h of held) {
      out.push({ ref: `${t.name}:${h.tag}`, held: h });
      runner.notice(
        `Left ${t.name}:${h.tag} where it is: ${t.name}:${h.newer} is a newer release than ${meta.version}.`,
      );
    }
    t.tags = t.tags.filter((tag) => !held.some((h) => h.tag === tag));
  }
  return out;
}

/**
 * The report with every planned ref that is neither pushed, nor already failed, nor left alone
 * on purpose marked as failed, with the error that stopped the step (its first line).
 */
function withUnpushed(
  report: Report,
  plan: SummaryData['plan'],
  summary: SummaryData,
  failure: unknown,
): Report {
  const done = new Set([
    ...Object.keys(report.digests),
    ...report.failed.map((f) => f.ref),
    ...summary.heldBack.map((h) => h.ref),
  ]);
  const why = failure === undefined ? 'not pushed' : messageOf(failure).split('\n')[0]!;
  // A push by digest plans `image@<digest>` and reports `image@sha256:...`.
  const byDigest = (ref: string) =>
    ref.endsWith('@<digest>') && Object.keys(report.digests).some((k) => k.startsWith(ref.slice(0, -8)));
  const missing = plan.filter((p) => !done.has(p.ref) && !byDigest(p.ref));
  return { ...report, failed: [...report.failed, ...missing.map((p) => ({ ref: p.ref, error: why }))] };
}

function setOutputs(
  meta: Meta,
  sepTags: string,
  imageId: string,
  report: Report | undefined,
  summary: SummaryData,
): void {
  const held = new Set(summary.heldBack.map((h) => h.ref));
  const o = meta.outputs;
  runner.setOutput('version', o.version);
  // `tags` describes what the registries now hold: after a push (or a failed one) only the refs
  // a registry took, never the ones left alone; a dry run or a build without push gives the plan.
  const pushing = !summary.dryRun && !summary.skipped;
  const holds = (t: string) => !held.has(t) && (!pushing || report?.digests[t] !== undefined);
  runner.setOutput('tags', meta.tags.filter(holds).join(sepTags));
  runner.setOutput('tag-names', o['tag-names']);
  runner.setOutput('labels', o.labels);
  runner.setOutput('annotations', o.annotations);
  runner.setOutput('json', o.json);
  runner.setOutput('imageid', imageId);
  runner.setOutput('digest', report?.digest ?? '');
  runner.setOutput('digests', JSON.stringify(report?.digests ?? {}));
  runner.setOutput('pushed', String(Object.keys(report?.digests ?? {}).length > 0));
  runner.setOutput(
    'metadata',
    JSON.stringify({
      platforms: report?.platforms ?? {},
      attestations: report?.attestations ?? {},
      heldBack: summary.heldBack,
      failed: report?.failed ?? [],
      ...(report?.path ? { path: report.path, reuse: report.reuse ?? {} } : {}),
    }),
  );
}
