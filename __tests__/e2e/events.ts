/** The GitHub events the e2e tests run the action under: payloads as the runner writes them. */
export const SHA = 'a1b2c3d4e5f60718293a4b5c6d7e8f9012345678';
export const REPO = 'acme/api';

export function repositoryRecord(): Record<string, unknown> {
  return {
    name: 'api',
    full_name: REPO,
    html_url: `https://github.com/${REPO}`,
    description: 'The API',
    default_branch: 'main',
    license: { spdx_id: 'MIT' },
  };
}

export interface Event {
  name: string;
  ref: string;
  sha?: string;
  payload: Record<string, unknown>;
  actor?: string;
}

export const events = {
  tag: (tag: string): Event => ({
    name: 'push',
    ref: `refs/tags/${tag}`,
    payload: { repository: repositoryRecord() },
  }),
  branch: (branch: string): Event => ({
    name: 'push',
    ref: `refs/heads/${branch}`,
    payload: { repository: repositoryRecord() },
  }),
  pr: (n: number, fromFork: boolean): Event => ({
    name: 'pull_request',
    ref: `refs/pull/${n}/merge`,
    payload: {
      number: n,
      repository: repositoryRecord(),
      pull_request: {
        number: n,
        head: { sha: 'f'.repeat(40), ref: 'feature', repo: { full_name: fromFork ? 'someone/api' : REPO } },
        base: { ref: 'main', repo: { full_name: REPO } },
      },
    },
  }),
};
