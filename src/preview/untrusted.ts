/**
 * pull_request_target and workflow_run run with this repository's secrets and a write
 * token. Building a fork's pull request there runs the fork's Dockerfile (its RUN steps)
 * with those credentials on the runner; so when the build context holds the fork's head
 * commit (or a merge of it), the build is refused unless the workflow opts in.
 */
import { spawn } from 'node:child_process';
import { childEnv } from '../secrets.js';

/* eslint-disable @typescript-eslint/no-explicit-any -- the event payload is GitHub's JSON, untyped */

export interface ForkHead {
  sha: string;
  repo: string;
  /** `pull request #7` or `workflow_run of pull request #7`, for the message. */
  what: string;
}

/** The fork head commit this privileged run is about, if there is one. */
export function forkHeadOf(eventName: string, payload: Record<string, any>): ForkHead | undefined {
  const base = String(payload.repository?.full_name ?? '');
  if (eventName === 'pull_request_target') {
    const pr = payload.pull_request;
    const repo = String(pr?.head?.repo?.full_name ?? '');
    if (!pr?.head?.sha || repo === base) return undefined;
    return { sha: String(pr.head.sha), repo: repo || '(deleted fork)', what: `pull request #${pr.number}` };
  }
  if (eventName === 'workflow_run') {
    const run = payload.workflow_run;
    const repo = String(run?.head_repository?.full_name ?? '');
    if (!run?.head_sha || repo === base) return undefined;
    const n = run.pull_requests?.[0]?.number;
    return {
      sha: String(run.head_sha),
      repo: repo || '(deleted fork)',
      what: n ? `pull request #${n}` : 'a fork',
    };
  }
  return undefined;
}

/** HEAD of the context and its parents (a refs/pull/N/merge checkout has the fork head as one). */
function checkedOut(context: string): Promise<string[] | undefined> {
  return new Promise((resolve) => {
    // git reads the checkout only: the step's tokens (INPUT_*) stay out of its environment.
    const child = spawn('git', ['-C', context, 'rev-list', '--parents', '-n', '1', 'HEAD'], {
      stdio: ['ignore', 'pipe', 'ignore'],
      env: childEnv(),
    });
    let out = '';
    child.stdout.on('data', (c: Buffer) => (out += c.toString()));
    child.on('error', () => resolve(undefined));
    child.on('close', (code) => resolve(code === 0 ? out.trim().split(/\s+/) : undefined));
  });
}

/**
 * Throws when the build would run a fork's code with this repository's credentials.
 * Returns a warning when it could not tell (the context is not a git checkout).
 */
export async function checkUntrustedBuild(
  eventName: string,
  payload: Record<string, any>,
  context: string,
  allow: boolean,
): Promise<string | undefined> {
  const fork = forkHeadOf(eventName, payload);
  if (!fork) return undefined;
  const commits = await checkedOut(context);
  if (!commits)
    return `${eventName} of ${fork.what} from ${fork.repo}: could not read the commit in context "${context}" (not a git checkout), so it is not known whether it holds the fork's code`;
  if (!commits.includes(fork.sha)) return undefined;
  if (allow)
    return `allow-untrusted-build: building ${fork.repo}'s code at ${fork.sha.slice(0, 7)} on ${eventName}`;
  throw new Error(
    `Refusing to build fork code with this repository's credentials: on ${eventName} the context "${context}" holds ${fork.sha.slice(0, 7)}, the head of ${fork.what} from the fork ${fork.repo}. Its Dockerfile would run with this repository's secrets and write token on the runner. Build fork pull requests on pull_request (no secrets), or set the input allow-untrusted-build: true once you have reviewed that code`,
  );
}
