/**
 * GitHub's REST API through @actions/github's octokit. Loaded on demand: most runs (pushes,
 * releases) never call the API, and the octokit stack is a large part of the bundle to parse.
 */
import type { getOctokit } from '@actions/github';

export type Octokit = ReturnType<typeof getOctokit>;

/** The API base the runner names (GITHUB_API_URL: GHES, or a local fake in tests). */
export function apiBaseUrl(env: Record<string, string | undefined>): string {
  return (env.GITHUB_API_URL || 'https://api.github.com').replace(/\/+$/, '');
}

/** An octokit for `token` against GITHUB_API_URL; undefined without a token. */
export async function octokitFor(
  token: string,
  env: Record<string, string | undefined>,
): Promise<Octokit | undefined> {
  if (!token) return undefined;
  const { getOctokit } = await import('@actions/github');
  return getOctokit(token, { baseUrl: apiBaseUrl(env), userAgent: 'publish-image' });
}

/** The HTTP status of an octokit error (RequestError), or undefined for network failures. */
export function statusOf(err: unknown): number | undefined {
  const s = (err as { status?: unknown })?.status;
  return typeof s === 'number' ? s : undefined;
}

/** `owner/name` split, as the API paths want it. */
export function splitRepo(fullName: string): { owner: string; repo: string } {
  const [owner = '', repo = ''] = fullName.split('/');
  return { owner, repo };
}
