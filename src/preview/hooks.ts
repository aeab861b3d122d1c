/**
 * The pull request life cycle as publish.ts sees it: three small calls (before the build, on
 * a closed pull request instead of the build, after a push) so the main step stays readable.
 */
import { messageOf } from '../errors.js';
import { octokitFor } from '../github/octokit.js';
import type { Inputs } from '../inputs.js';
import type { GitHubContext, MetaOptions } from '../meta/index.js';
import * as core from '@actions/core';
import { cleanupPreview, type CleanupTarget, renderCleanup } from './cleanup.js';
import { markerOf, publishedBody, removedBody, upsertComment } from './comment.js';
import { isClosed, pullRequestOf, type PullRequest } from './pr.js';
import { checkUntrustedBuild } from './untrusted.js';

/* eslint-disable @typescript-eslint/no-explicit-any -- the event payload is GitHub's JSON, untyped */

const log = {
  debug: (m: string) => core.debug(m),
  info: (m: string) => core.info(m),
  notice: (m: string) => core.notice(m),
  warning: (m: string) => core.warning(m),
};

/** Whether this run builds with a docker build of the context (not source / merge-digests / dry run). */
function builds(inputs: Inputs): boolean {
  return !inputs.dryRun && !inputs.source && inputs.mergeDigests.length === 0;
}

/** Before any build: refuses fork code on pull_request_target / workflow_run (see untrusted.ts). */
export async function guardBuild(
  inputs: Inputs,
  eventName: string,
  payload: Record<string, any>,
): Promise<void> {
  if (!builds(inputs)) return;
  const note = await checkUntrustedBuild(eventName, payload, inputs.context, inputs.allowUntrustedBuild);
  if (note) core.warning(note);
}

/** The pull request of a closing event, whose preview is removed instead of built. */
export function closingPullRequest(eventName: string, payload: Record<string, any>): PullRequest | undefined {
  const pr = pullRequestOf(eventName, payload);
  return isClosed(pr) ? pr : undefined;
}

export interface CloseJob {
  inputs: Inputs;
  targets: CleanupTarget[];
  ctx: GitHubContext;
  metaOptions: MetaOptions;
  pr: PullRequest;
  env: Record<string, string | undefined>;
  userConfigDir: string;
}

/** A closed pull request: nothing is built; its preview tags go, and the comment says so. */
export async function closePreview(job: CloseJob): Promise<void> {
  const { inputs, pr } = job;
  core.setOutput('pushed', 'false');
  if (!inputs.cleanup) {
    core.info(`Pull request #${pr.number} closed; cleanup is false, so nothing is built or removed.`);
    return;
  }
  if (pr.fromFork && job.ctx.eventName === 'pull_request') {
    core.notice(
      `Pull request #${pr.number} from ${pr.headRepo || 'a deleted fork'} closed: runs for fork pull requests get no secrets, so its preview cannot be removed here (run the cleanup on pull_request_target).`,
    );
    return;
  }
  const octokit = await octokitFor(inputs.githubToken, job.env);
  const report = await cleanupPreview({ ...job, octokit, log });
  core.setOutput('cleanup', JSON.stringify(report));
  core.setOutput('metadata', JSON.stringify({ cleanup: report }));
  await core.summary
    .addRaw(renderCleanup(report))
    .write()
    .catch((err: unknown) => {
      core.warning(`Could not write the job summary: ${messageOf(err)}`);
    });
  if (inputs.prComment && !inputs.dryRun) {
    const body = removedBody(
      pr,
      markerOf(job.env),
      report.removed.map((r) => r.ref),
      report.left,
    );
    await upsertComment(octokit, job.ctx.repository || pr.baseRepo, pr, body, log, false);
  }
}

/** After a push on a pull request: the comment with the image (pr-comment: true). */
export async function commentPublished(
  inputs: Inputs,
  ctx: GitHubContext,
  env: Record<string, string | undefined>,
  pushed: { digest: string; digests: Record<string, string> } | undefined,
): Promise<void> {
  const pr = pullRequestOf(ctx.eventName, ctx.payload);
  if (!inputs.prComment || !pr || !pushed || Object.keys(pushed.digests).length === 0) return;
  // A fork's pull_request run has a read-only token: trying would only produce a 403.
  if (pr.fromFork && ctx.eventName === 'pull_request') {
    core.info(`pr-comment: #${pr.number} comes from a fork, whose token cannot comment; no comment.`);
    return;
  }
  try {
    const octokit = await octokitFor(inputs.githubToken, env);
    const body = publishedBody(pr, { marker: markerOf(env), ...pushed, sha: pr.headSha || ctx.sha });
    await upsertComment(octokit, ctx.repository || pr.baseRepo, pr, body, log);
  } catch (err) {
    core.warning(`pr-comment: ${messageOf(err)}`);
  }
}
