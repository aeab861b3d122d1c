import { existsSync, readFileSync } from 'node:fs';

/* eslint-disable @typescript-eslint/no-explicit-any -- the event payload is GitHub's JSON, untyped */

/** The webhook payload the runner saved for this run ({} when there is none, e.g. locally). */
export function readPayload(env: Record<string, string | undefined>): Record<string, any> {
  const file = env.GITHUB_EVENT_PATH;
  if (!file || !existsSync(file)) return {};
  return JSON.parse(readFileSync(file, 'utf8')) as Record<string, any>;
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
