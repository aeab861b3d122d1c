/**
 * A closed pull request's preview, removed: its tags worked out from the rules and its
 * commits, then each image handed to the remover its registry needs.
 */
import { messageOf } from '../errors.js';
import { pullRequestCommits } from '../github/pulls.js';
import type { Octokit } from '../github/octokit.js';
import type { Inputs } from '../inputs.js';
import type { GitHubContext, MetaOptions } from '../meta/index.js';
import { RegistryClient } from '../registry/client.js';
import {
  type CredentialLookup,
  dockerConfigCredentials,
  staticCredentials,
} from '../registry/credentials.js';
import type { Logger } from '../log.js';
import { DEFAULT_RETRY } from '../registry/retry.js';
import { cleanDistribution } from './distribution.js';
import { cleanDockerHub, hubBaseUrl } from './dockerhub.js';
import { cleanGhcr } from './ghcr.js';
import { addOutcome, type CleanupLog, emptyOutcome, type Outcome } from './outcome.js';
import type { PullRequest } from './pr.js';
import { previewTags } from './tags.js';
import { isCacheTagOf } from '../build/cache/stages.js';

export interface CleanupTarget {
  name: string;
  registry: string;
  repository: string;
}

export interface CleanupReport extends Outcome {
  pullRequest: number;
  /** The preview tag names looked for on every image. */
  tags: string[];
  dryRun: boolean;
  /** Why only the head commit's sha- tag was looked for, when the commit list failed. */
  commitsFallback?: string;
}

export interface CleanupJob {
  inputs: Inputs;
  targets: CleanupTarget[];
  ctx: GitHubContext;
  metaOptions: MetaOptions;
  pr: PullRequest;
  octokit: Octokit | undefined;
  env: Record<string, string | undefined>;
  log: CleanupLog & Logger;
  /** Credentials docker already has, used for registries without a login input. */
  userConfigDir: string;
}

function clientFor(job: CleanupJob, registry: string): RegistryClient {
  const l = job.inputs.logins.find((x) => x.registry === registry);
  const credentials: CredentialLookup = l
    ? staticCredentials({ [registry]: { username: l.username, password: l.password } })
    : dockerConfigCredentials(job.userConfigDir);
  const policy = {
    ...DEFAULT_RETRY,
    attempts: job.inputs.retryAttempts,
    totalMs: job.inputs.retryTimeoutSeconds * 1000,
  };
  return new RegistryClient({ registry, credentials, policy, log: job.log });
}

/** The pull request's build cache entries in one repository (`buildcache-pr-N[--stage]`). */
async function cacheTagsOf(
  job: CleanupJob,
  t: CleanupTarget,
  client: RegistryClient,
): Promise<{ cache: string[]; all?: string[] }> {
  try {
    const all = await client.listTags(t.repository);
    return { cache: all.filter((tag) => isCacheTagOf(tag, `pr-${job.pr.number}`)), all };
  } catch (err) {
    job.log.warning(`${t.name}: the build cache of #${job.pr.number} was not looked for: ${messageOf(err)}`);
    return { cache: [] };
  }
}

/** One registry client per image, for its cache entries and, on a distribution registry, the removal. */
async function cleanTarget(job: CleanupJob, t: CleanupTarget, previewTags: string[]): Promise<Outcome> {
  const client = clientFor(job, t.registry);
  try {
    const listed = await cacheTagsOf(job, t, client);
    const tags = [...previewTags, ...listed.cache];
    if (t.registry === 'docker.io') {
      const login = job.inputs.logins.find((l) => l.registry === 'docker.io');
      return await cleanDockerHub(hubBaseUrl(job.env), login, t, tags, job.log);
    }
    if (t.registry === 'ghcr.io') return await cleanGhcr(job.octokit, t, tags, job.log);
    // The listing is a few milliseconds old: the removal needs no second one.
    return await cleanDistribution(client, t, tags, job.log, listed.all);
  } finally {
    client.close();
  }
}

/** Removes the preview of a closed pull request from every image; never throws for a registry. */
export async function cleanupPreview(job: CleanupJob): Promise<CleanupReport> {
  const { pr, log } = job;
  const repository = job.ctx.repository || pr.baseRepo;
  const commits = await pullRequestCommits(job.octokit, repository, pr.number, pr.headSha);
  if (commits.fallback)
    log.warning(
      `Looking only for the sha- tag of the head commit ${pr.headSha.slice(0, 7)}: ${commits.fallback}. sha- tags of earlier pushes to #${pr.number} may stay.`,
    );
  // Merged by pushing the branch itself to the base branch, the head commit is now the base
  // branch's, and so is its sha- tag: leave it.
  const shas = commits.shas.filter((s) => s !== pr.mergedAs);
  const tags = previewTags(job.inputs, job.ctx, pr.number, shas, job.metaOptions);
  const report: CleanupReport = {
    pullRequest: pr.number,
    tags,
    dryRun: job.inputs.dryRun,
    ...emptyOutcome(),
    ...(commits.fallback ? { commitsFallback: commits.fallback } : {}),
  };
  log.info(`Pull request #${pr.number} closed: removing its preview tags ${tags.join(', ') || '(none)'}`);
  if (job.inputs.dryRun) {
    for (const t of job.targets)
      for (const tag of tags) log.info(`  would remove ${t.name}:${tag} (where it exists)`);
    return report;
  }
  const outcomes = await Promise.all(
    job.targets.map((t) =>
      cleanTarget(job, t, tags).catch((err: unknown) => {
        const why = messageOf(err);
        log.warning(`${t.name}: preview tags not removed: ${why}`);
        return { removed: [], left: tags.map((tag) => ({ ref: `${t.name}:${tag}`, why })) };
      }),
    ),
  );
  for (const o of outcomes) addOutcome(report, o);
  for (const r of report.removed)
    log.info(
      `  removed ${r.ref}${r.untagged ? ` (untagged; ${r.untagged})` : r.digest ? ` (${r.digest})` : ''}`,
    );
  for (const l of report.left) log.info(`  left ${l.ref}: ${l.why}`);
  return report;
}

/** The job summary's section for a cleanup. */
export function renderCleanup(r: CleanupReport): string {
  const lines = [
    `## Preview of #${r.pullRequest} ${r.dryRun ? 'would be removed (dry run)' : 'removed'}`,
    '',
  ];
  lines.push(`Preview tags: ${r.tags.map((t) => `\`${t}\``).join(', ') || '(none)'}`, '');
  if (r.commitsFallback) lines.push(`Only the head commit was looked at: ${r.commitsFallback}.`, '');
  if (r.removed.length) {
    lines.push('| removed | digest |', '|---|---|');
    for (const x of r.removed) {
      const digest = x.digest ? `\`${x.digest}\`` : '';
      lines.push(`| \`${x.ref}\` | ${x.untagged ? `untagged only: ${digest} ${x.untagged}` : digest} |`);
    }
    lines.push('');
  }
  if (r.left.length) {
    lines.push('| left | why |', '|---|---|');
    for (const x of r.left) lines.push(`| \`${x.ref}\` | ${x.why.replace(/\|/g, '\\|')} |`);
    lines.push('');
  }
  if (!r.removed.length && !r.left.length && !r.dryRun) lines.push('No preview tag was found.', '');
  return lines.join('\n');
}
