/**
 * One pull request comment per publishing step, found again by a hidden marker and edited in
 * place on every push, then on close. A comment is a courtesy: failures are warnings.
 */
import { createHash } from 'node:crypto';
import { messageOf } from '../errors.js';
import { type Octokit, splitRepo, statusOf } from '../github/octokit.js';
import type { CleanupLog } from './outcome.js';
import type { PullRequest } from './pr.js';

/**
 * The marker names the step (workflow, job, step id: the same on every run of that step,
 * whatever its inputs), so two steps publishing different images keep a comment each.
 */
export function markerOf(env: Record<string, string | undefined>): string {
  const step = [env.GITHUB_WORKFLOW, env.GITHUB_JOB, env.GITHUB_ACTION].map((x) => x ?? '').join('\n');
  const key = createHash('sha256').update(step).digest('hex').slice(0, 12);
  return `<!-- publish-image preview ${key} -->`;
}

export interface PublishedPreview {
  marker: string;
  /** `image:tag` to digest, as pushed. */
  digests: Record<string, string>;
  digest: string;
  sha: string;
}

/** The comment after a push: every reference, the digest and a `docker pull` line. */
export function publishedBody(pr: PullRequest, p: PublishedPreview): string {
  const refs = Object.keys(p.digests);
  // Prefer the pr-N style tag for the pull line: it follows the pull request's later pushes.
  const pull = refs.find((r) => r.includes(`pr-${pr.number}`)) ?? refs[0] ?? '';
  return [
    p.marker,
    `### Preview image of #${pr.number}`,
    '',
    `Built from ${p.sha.slice(0, 7)}, digest \`${p.digest}\`.`,
    '',
    '```sh',
    `docker pull ${pull}`,
    '```',
    '',
    '| image | digest |',
    '|---|---|',
    ...refs.map((r) => `| \`${r}\` | \`${p.digests[r]}\` |`),
    '',
  ].join('\n');
}

/** The comment once the pull request is closed and its preview removed (or not all of it). */
export function removedBody(
  pr: PullRequest,
  marker: string,
  removed: string[],
  left: { ref: string; why: string }[],
): string {
  return [
    marker,
    `### Preview image of #${pr.number}: removed`,
    '',
    `The pull request was closed and its preview was removed (${removed.length} tag(s)).`,
    ...(left.length ? ['', 'Still there:', ...left.map((l) => `- \`${l.ref}\`: ${l.why}`)] : []),
    '',
  ].join('\n');
}

/**
 * Creates the comment or edits the one carrying the marker. `createIfMissing` false (on
 * close) only edits: a new comment just to say "removed" would be noise.
 */
export async function upsertComment(
  octokit: Octokit | undefined,
  repository: string,
  pr: PullRequest,
  body: string,
  log: CleanupLog,
  createIfMissing = true,
): Promise<void> {
  if (!octokit) {
    log.warning('pr-comment: no github-token, so no comment on the pull request');
    return;
  }
  const marker = body.slice(0, body.indexOf('\n'));
  const where = { ...splitRepo(repository), issue_number: pr.number };
  try {
    const comments = await octokit.paginate(octokit.rest.issues.listComments, { ...where, per_page: 100 });
    const mine = comments.find((c) => (c.body ?? '').startsWith(marker));
    if (mine) {
      await octokit.rest.issues.updateComment({ ...splitRepo(repository), comment_id: mine.id, body });
      log.info(`Updated the preview comment on #${pr.number}`);
    } else if (createIfMissing) {
      await octokit.rest.issues.createComment({ ...where, body });
      log.info(`Commented the preview on #${pr.number}`);
    }
  } catch (err) {
    const status = statusOf(err);
    const hint =
      status === 403 ? ': the token may not write to pull requests (permissions: pull-requests: write)' : '';
    log.warning(`pr-comment: could not comment on #${pr.number}: ${messageOf(err)}${hint}`);
  }
}
