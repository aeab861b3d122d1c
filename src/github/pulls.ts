import { messageOf } from '../errors.js';
import { type Octokit, splitRepo, statusOf } from './octokit.js';

export interface CommitList {
  shas: string[];
  /** Why the list is only the payload's head commit, when the API could not be used. */
  fallback?: string;
}

/**
 * Every commit of pull request `n` (the API lists up to 250), for the sha- tags earlier
 * pushes made. Falls back to the head sha from the event when the API cannot be reached.
 */
export async function pullRequestCommits(
  octokit: Octokit | undefined,
  repository: string,
  n: number,
  headSha: string,
): Promise<CommitList> {
  const fallback = headSha ? [headSha] : [];
  if (!octokit) return { shas: fallback, fallback: 'no github-token' };
  try {
    const commits = await octokit.paginate(octokit.rest.pulls.listCommits, {
      ...splitRepo(repository),
      pull_number: n,
      per_page: 100,
    });
    const shas = commits.map((c) => c.sha);
    if (headSha && !shas.includes(headSha)) shas.push(headSha);
    return { shas };
  } catch (err) {
    const status = statusOf(err);
    const why = status ? `the API answered ${status}` : messageOf(err);
    return { shas: fallback, fallback: `listing the commits of pull request #${n} failed: ${why}` };
  }
}
