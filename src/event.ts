import { context } from '@actions/github';
import type { RunEvent } from './meta/index.js';

/* eslint-disable @typescript-eslint/no-explicit-any -- the event payload is GitHub's JSON, untyped */

/** The run as @actions/github's context reads it, plus who triggered it. */
export interface Run extends RunEvent {
  actor: string;
}

/** The parts of @actions/github's Context that describe the run. */
export interface ActionsContext {
  eventName: string;
  ref: string;
  sha: string;
  actor: string;
  serverUrl: string;
  payload: Record<string, any>;
  readonly repo: { owner: string; repo: string };
}

/** `owner/name` of the repository, or '' when neither GITHUB_REPOSITORY nor the payload names it. */
function repositoryOf(c: ActionsContext): string {
  try {
    const { owner, repo } = c.repo; // a getter that throws when it has nothing to go on
    return `${owner}/${repo}`;
  } catch {
    return '';
  }
}

/** This run, from @actions/github's context (the runner's GITHUB_* variables and event file). */
export function currentRun(c: ActionsContext = context): Run {
  return {
    eventName: c.eventName ?? '',
    ref: c.ref ?? '',
    sha: c.sha ?? '',
    actor: c.actor ?? '',
    repository: repositoryOf(c),
    serverUrl: c.serverUrl,
    payload: c.payload ?? {},
  };
}

/**
 * Why this run gets no secrets, or undefined when it does. GitHub withholds secrets from
 * `pull_request` workflows of fork pull requests and runs Dependabot's as if from a fork.
 */
export function noSecretsReason(
  eventName: string,
  payload: Record<string, any>,
  actor = '',
): string | undefined {
  if (!eventName.startsWith('pull_request') || eventName === 'pull_request_target') return undefined;
  const pr = payload.pull_request;
  if (!pr) return undefined;
  const head: string | undefined = pr.head?.repo?.full_name;
  const base: string | undefined = pr.base?.repo?.full_name ?? payload.repository?.full_name;
  if (head !== base)
    return `pull request #${pr.number ?? payload.number} comes from the fork ${head ?? '(deleted repository)'}, and GitHub gives fork pull requests no secrets to push with`;
  if (actor === 'dependabot[bot]')
    return 'pull requests from Dependabot run without the repository secrets, like forks';
  return undefined;
}
