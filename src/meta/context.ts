import { InputError } from '../errors.js';

/** What triggered the workflow, as metadata-action's `workflow` context sees it. */
export interface GitHubContext {
  eventName: string;
  ref: string;
  sha: string;
  repository: string;
  serverUrl: string;
  // eslint-disable-next-line @typescript-eslint/no-explicit-any
  payload: Record<string, any>;
  commitDate: Date;
  now: Date;
}

type Env = Record<string, string | undefined>;

function clockFrom(env: Env, clock: () => Date): Date {
  const epoch = env.SOURCE_DATE_EPOCH;
  if (epoch === undefined || epoch.trim() === '') return clock();
  if (!/^\d+$/.test(epoch.trim())) {
    throw new InputError(
      'SOURCE_DATE_EPOCH',
      epoch,
      'must be a whole number of seconds since 1970-01-01 UTC',
    );
  }
  return new Date(Number(epoch.trim()) * 1000);
}

interface PayloadCommit {
  id?: unknown;
  timestamp?: unknown;
}

function timestampOf(commit: PayloadCommit | undefined, sha: string): Date | undefined {
  if (!commit || commit.id !== sha || typeof commit.timestamp !== 'string' || commit.timestamp === '') {
    return undefined;
  }
  const date = new Date(commit.timestamp);
  return Number.isNaN(date.getTime()) ? undefined : date;
}

/** The payload commit (or head commit) whose id is the SHA gives the commit date; else `now`. */
// eslint-disable-next-line @typescript-eslint/no-explicit-any
function commitDateFrom(payload: Record<string, any>, sha: string, now: Date): Date {
  if (Array.isArray(payload.commits)) {
    const found = (payload.commits as PayloadCommit[]).find((c) => c && c.id === sha);
    const date = timestampOf(found, sha);
    if (date) return date;
  }
  return timestampOf(payload.head_commit as PayloadCommit | undefined, sha) ?? now;
}

/**
 * The run as the runner describes it (event name, ref, SHA, repository, server, payload). Built
 * outside meta (src/event.ts, from @actions/github's context) so that meta imports no toolkit.
 */
export interface RunEvent {
  eventName: string;
  ref: string;
  sha: string;
  repository: string;
  serverUrl?: string;
  // eslint-disable-next-line @typescript-eslint/no-explicit-any
  payload: Record<string, any>;
}

/**
 * metadata-action's view of the run: `pull_request_target` rules see the PR's merge ref,
 * DOCKER_METADATA_PR_HEAD_SHA swaps in the PR head, SOURCE_DATE_EPOCH sets the clock.
 */
export function workflowContext(
  event: RunEvent,
  env: Env,
  clock: () => Date = () => new Date(),
): GitHubContext {
  const { eventName } = event;
  let { ref, sha } = event;
  const payload = event.payload ?? {};

  // pull_request_target runs on the base branch; PR rules should still fire.
  if (/pull_request_target/.test(eventName)) {
    ref = `refs/pull/${payload.number}/merge`;
  }
  if (/true/i.test(env.DOCKER_METADATA_PR_HEAD_SHA ?? '') && /pull_request/.test(eventName)) {
    const head = payload.pull_request?.head?.sha;
    if (head !== undefined && head !== null) sha = String(head);
  }

  const now = clockFrom(env, clock);
  return {
    eventName,
    ref,
    sha,
    repository: event.repository,
    serverUrl: event.serverUrl || 'https://github.com',
    payload,
    commitDate: commitDateFrom(payload, sha, now),
    now,
  };
}
