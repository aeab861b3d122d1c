import * as core from '@actions/core';
import { mkdtemp, rm } from 'node:fs/promises';
import * as os from 'node:os';
import * as path from 'node:path';
import { createConfigDir, login, removeConfigDir, userDockerConfigDir } from './auth.js';
import { build, hasBuildx, localImageId } from './build.js';
import { Docker } from './docker.js';
import { InputError, messageOf } from './errors.js';
import { noSecretsReason, readPayload } from './event.js';
import { heldBackTags, type HeldBack } from './forward.js';
import { getInputs, type Inputs } from './inputs.js';
import type { Logger } from './log.js';
import { computeMeta, contextFromEnv, metaOptionsFromEnv, type Meta } from './meta/index.js';
import { mergeDigests, publishPlatforms } from './platforms.js';
import { assertAllPushed, newReport, publishLocalImage, type Report, type Target } from './push.js';
import { RegistryClient } from './registry/client.js';
import { type CredentialLookup, dockerConfigCredentials, staticCredentials } from './registry/credentials.js';
import { parseImageName } from './registry/reference.js';
import { DEFAULT_RETRY, type RetryPolicy } from './registry/retry.js';
import { renderSummary, type SummaryData } from './summary.js';

const logger: Logger = {
  debug: (m) => core.debug(m),
  info: (m) => core.info(m),
  warning: (m) => core.warning(m),
};

/** One bundle serves main and post: the main step leaves a mark in the saved state. */
export async function entry(): Promise<void> {
  if (core.getState('isPost') === 'true') await post();
  else await run();
}

export async function run(): Promise<void> {
  core.saveState('isPost', 'true');
  try {
    await publish();
  } catch (err) {
    core.setFailed(messageOf(err));
  }
}

/** Deletes the action's own Docker config, tokens and all. Warns, never fails. */
export async function post(): Promise<void> {
  const dir = core.getState('configDir');
  if (!dir) return;
  if (core.getState('logout') === 'false') {
    core.info(`logout: false, the registry credentials stay in ${dir} until the runner cleans RUNNER_TEMP`);
    return;
  }
  try {
    await removeConfigDir(dir);
    core.info('Removed the registry credentials of this step');
  } catch (err) {
    core.warning(`Could not remove the registry credentials in ${dir}: ${messageOf(err)}`);
  }
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

function retryPolicy(inputs: Inputs): RetryPolicy {
  return { ...DEFAULT_RETRY, attempts: inputs.retryAttempts, totalMs: inputs.retryTimeoutSeconds * 1000 };
}

async function publish(): Promise<void> {
  const env = process.env;
  const payload = readPayload(env);
  const ctx = contextFromEnv(env, payload);
  const noSecrets = noSecretsReason(ctx.eventName, payload, env.GITHUB_ACTOR);
  const inputs = getInputs(noSecrets !== undefined);
  const meta = computeMeta(inputs, ctx, metaOptionsFromEnv(env));
  for (const w of meta.warnings) core.warning(w);
  // Like metadata-action we lower-case image names (so `ghcr.io/${{ github.repository }}` works
  // for owners with capitals), but say so: the pushed name differs from the one written.
  if (/[A-Z]/.test(inputs.images))
    core.warning(
      `Input "images" has upper-case letters; registries accept only lower case, so it pushes ${meta.images.join(', ')}`,
    );
  const targets = targetsOf(meta);
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
  let imageId = '';
  try {
    if (inputs.dryRun) {
      core.info(`Dry run: version ${meta.version || '(none)'}; nothing is built or pushed.`);
      for (const p of plan) core.info(`  would push ${p.ref} to ${p.registry} (${p.login})`);
      for (const [k, v] of Object.entries(meta.labels)) core.info(`  label ${k}=${v}`);
      for (const a of meta.annotations) core.info(`  annotation ${a}`);
      return;
    }
    const policy = retryPolicy(inputs);
    const userConfig = userDockerConfigDir();
    let configDir: string | undefined;
    if (inputs.logins.length) {
      configDir = await createConfigDir(env.RUNNER_TEMP ?? '', userConfig);
      core.saveState('configDir', configDir);
      core.saveState('logout', String(inputs.logout));
    }
    const docker = new Docker(logger, configDir);
    if (inputs.source) imageId = await localImageId(docker, inputs.source);
    // Logins one after another: concurrent writes to one config.json can lose a credential.
    for (const l of inputs.logins) {
      const repo = targets.find((t) => t.registry === l.registry)?.repository;
      await login(docker, l, repo, policy, logger);
    }
    const userCreds = dockerConfigCredentials(userConfig);
    const clientCache = new Map<string, RegistryClient>();
    const clients = (registry: string) => {
      let c = clientCache.get(registry);
      if (!c) {
        const l = loginFor(registry);
        const credentials: CredentialLookup = l
          ? staticCredentials({ [registry]: { username: l.username, password: l.password } })
          : userCreds;
        c = new RegistryClient({ registry, credentials, policy, log: logger });
        clientCache.set(registry, c);
      }
      return c;
    };

    const platforms = inputs.platforms;
    const multi = platforms.length > 1 || byDigest;
    const images: { platform: string; id: string }[] = [];
    if (inputs.mergeDigests.length === 0) {
      if (inputs.source) images.push({ platform: platforms[0] ?? '', id: imageId });
      else {
        const buildx = await hasBuildx(docker);
        for (const platform of platforms.length ? platforms : ['']) {
          core.startGroup(`Build${platform ? ` ${platform}` : ''}`);
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
            core.info(`Built ${id}${platform ? ` for ${platform}` : ''}`);
          } finally {
            core.endGroup();
          }
        }
      }
      imageId = images.map((i) => i.id).join(',');
    }
    if (skipped) {
      core.notice(`Built but not pushed: ${skipped}.`);
      return;
    }

    if (inputs.latestForwardOnly && !byDigest) summary.heldBack = await holdBack(meta, targets, clients);

    report = newReport();
    const tmp = await mkdtemp(path.join(env.RUNNER_TEMP || os.tmpdir(), 'publish-image-blobs-'));
    try {
      if (inputs.mergeDigests.length)
        await mergeDigests(inputs.mergeDigests, targets, clients, logger, report);
      else if (multi)
        await publishPlatforms(
          docker,
          images,
          targets,
          clients,
          { tmpDir: tmp, byDigest, log: logger },
          report,
        );
      else await publishLocalImage(docker, images[0].id, targets, clients, policy, logger, report);
    } finally {
      await rm(tmp, { recursive: true, force: true });
    }
    assertAllPushed(report);
  } finally {
    setOutputs(meta, inputs.sepTags, imageId, report, summary);
    await core.summary
      .addRaw(renderSummary({ ...summary, report }))
      .write()
      .catch((err: unknown) => {
        core.warning(`Could not write the job summary: ${messageOf(err)}`);
      });
  }
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
  for (const t of targets) {
    const existing = await clients(t.registry).listTags(t.repository);
    const held = heldBackTags(meta.version, t.tags, latestTag, existing);
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

function setOutputs(
  meta: Meta,
  sepTags: string,
  imageId: string,
  report: Report | undefined,
  summary: SummaryData,
): void {
  const held = new Set(summary.heldBack.map((h) => h.ref));
  const o = meta.outputs;
  core.setOutput('version', o.version);
  // `tags` describes what the registries now hold: refs left alone are not in it.
  core.setOutput('tags', meta.tags.filter((t) => !held.has(t)).join(sepTags));
  core.setOutput('tag-names', o['tag-names']);
  core.setOutput('labels', o.labels);
  core.setOutput('annotations', o.annotations);
  core.setOutput('json', o.json);
  core.setOutput('imageid', imageId);
  core.setOutput('digest', report?.digest ?? '');
  core.setOutput('digests', JSON.stringify(report?.digests ?? {}));
  core.setOutput('pushed', String(Object.keys(report?.digests ?? {}).length > 0));
  core.setOutput(
    'metadata',
    JSON.stringify({
      platforms: report?.platforms ?? {},
      heldBack: summary.heldBack,
      failed: report?.failed ?? [],
    }),
  );
}
