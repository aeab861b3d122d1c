/* eslint-disable @typescript-eslint/no-explicit-any -- the event payload is GitHub's JSON, untyped */

/** The pull request a run is about, as the event payload describes it. */
export interface PullRequest {
  number: number;
  /** `opened`, `synchronize`, `closed`, ... */
  action: string;
  headSha: string;
  /** `owner/name` of the head repository ('' when the fork was deleted). */
  headRepo: string;
  baseRepo: string;
  fromFork: boolean;
  /** The commit the merge put on the base branch ('' unless merged). */
  mergedAs: string;
}

/** The pull request of a `pull_request` / `pull_request_target` run; undefined otherwise. */
export function pullRequestOf(eventName: string, payload: Record<string, any>): PullRequest | undefined {
  if (eventName !== 'pull_request' && eventName !== 'pull_request_target') return undefined;
  const pr = payload.pull_request;
  const number = Number(pr?.number ?? payload.number);
  if (!pr || !Number.isInteger(number) || number <= 0) return undefined;
  const headRepo = String(pr.head?.repo?.full_name ?? '');
  const baseRepo = String(pr.base?.repo?.full_name ?? payload.repository?.full_name ?? '');
  return {
    number,
    action: String(payload.action ?? ''),
    headSha: String(pr.head?.sha ?? ''),
    headRepo,
    baseRepo,
    fromFork: headRepo !== baseRepo,
    mergedAs: pr.merged === true ? String(pr.merge_commit_sha ?? '') : '',
  };
}

/** A `closed` pull request event (merged or not): the time to remove its preview. */
export function isClosed(pr: PullRequest | undefined): pr is PullRequest {
  return pr?.action === 'closed';
}
