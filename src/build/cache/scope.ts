/**
 * Whose build cache a run reads and which one it writes, from the event alone. A registry has
 * no scopes of its own: any job that can push can overwrite any tag. So the rule is in who
 * writes where: the default branch and releases read only what the default branch and
 * releases wrote; a pull request reads its own cache, then the default branch's, and writes
 * only its own; runs that execute code from outside the repository's branches write nothing
 * the default branch reads.
 */

/** A run as the cache sees it. */
export interface CacheRun {
  eventName: string;
  /** `refs/heads/…`, `refs/tags/…`, `refs/pull/N/merge`. */
  ref: string;
  /** The pull request's number, for pull_request(_target) events. */
  pullRequest?: number;
  /** The repository's default branch, from the event payload; '' when unknown. */
  defaultBranch: string;
  /** The run has no secrets (a fork's or Dependabot's pull request): it can write nothing. */
  noSecrets: boolean;
}

/**
 * Scope names are tag-safe and never collide: `branch-main`, `branch-feature-login`, `pr-7`,
 * `release` (a branch called `pr-7` is `branch-pr-7`).
 */
export interface CacheScopes {
  /** Read in this order; the first that holds an entry for a stage serves it. */
  read: string[];
  /** Where this run writes its cache; undefined when it writes none. */
  write?: string;
  /** Why it writes none, for the log. */
  noWrite?: string;
}

/** A branch as a tag-safe scope: `feature/Login` → `branch-feature-login` (no `--` in it). */
export function branchScope(branch: string): string {
  const name = branch
    .toLowerCase()
    .replace(/[^a-z0-9_.]+/g, '-')
    .replace(/^[-.]+|[-.]+$/g, '');
  return `branch-${name}`;
}

const unique = (xs: (string | undefined)[]) => [...new Set(xs.filter((x): x is string => !!x))];

export function cacheScopes(run: CacheRun): CacheScopes {
  const main = run.defaultBranch ? branchScope(run.defaultBranch) : undefined;
  const pr = run.pullRequest !== undefined ? `pr-${run.pullRequest}` : undefined;
  if (run.eventName === 'pull_request' || run.eventName === 'pull_request_review') {
    if (run.noSecrets)
      return { read: unique([main]), noWrite: "a fork's pull request has no credentials to write with" };
    return { read: unique([pr, main]), write: pr };
  }
  if (run.eventName === 'pull_request_target') {
    // Runs with the base branch's ref: writing by ref would write the default branch's cache.
    return { read: unique([pr, main]), write: pr };
  }
  if (run.eventName === 'workflow_run')
    return {
      read: unique([main]),
      noWrite: 'workflow_run may build code from a pull request: it writes no cache the default branch reads',
    };
  const tag = /^refs\/tags\//.test(run.ref);
  if (tag) return { read: unique([main, 'release']), write: 'release' };
  const branch = /^refs\/heads\/(.+)$/.exec(run.ref)?.[1];
  if (branch) {
    const own = branchScope(branch);
    return { read: unique([own, main]), write: own };
  }
  return {
    read: unique([main]),
    noWrite: `no branch or tag in ${run.ref || 'the ref'} to file a cache under`,
  };
}
