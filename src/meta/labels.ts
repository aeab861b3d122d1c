import type { GitHubContext } from './context.js';
import { type ExpressionScope, renderGlobal } from './expressions.js';
import { expandFor } from './tags.js';

/** The repository record the OCI labels come from (event payload; no API call). */
export interface RepoRecord {
  name: string;
  description: string;
  htmlUrl: string;
  license: string;
  defaultBranch: string;
}

const str = (v: unknown): string => (v === undefined || v === null ? '' : String(v));

export function repoRecord(ctx: GitHubContext): RepoRecord {
  const repo = ctx.payload?.repository;
  if (repo && typeof repo === 'object') {
    return {
      name: str(repo.name),
      description: str(repo.description),
      htmlUrl: str(repo.html_url),
      license: str(repo.license?.spdx_id),
      defaultBranch: str(repo.default_branch),
    };
  }
  const slash = ctx.repository.indexOf('/');
  return {
    name: slash >= 0 ? ctx.repository.slice(slash + 1) : ctx.repository,
    description: '',
    htmlUrl: ctx.repository ? `${ctx.serverUrl.replace(/\/+$/, '')}/${ctx.repository}` : '',
    license: '',
    defaultBranch: '',
  };
}

/** The eight generated OCI keys, as `key=value` lines. */
export function ociLines(repo: RepoRecord, version: string, ctx: GitHubContext): string[] {
  return [
    `org.opencontainers.image.title=${repo.name}`,
    `org.opencontainers.image.description=${repo.description}`,
    `org.opencontainers.image.url=${repo.htmlUrl}`,
    `org.opencontainers.image.source=${repo.htmlUrl}`,
    `org.opencontainers.image.version=${version}`,
    `org.opencontainers.image.created=${ctx.now.toISOString()}`,
    `org.opencontainers.image.revision=${ctx.sha}`,
    `org.opencontainers.image.licenses=${repo.license}`,
  ];
}

/**
 * Generated lines plus the custom `labels`/`annotations` lines (expression-expanded), split
 * on the first `=` (lines without `=` dropped), later keys winning, sorted by key.
 */
export function mergeKeyValues(
  generated: string[],
  custom: string[],
  input: string,
  scope: ExpressionScope,
): Array<[string, string]> {
  const lines = [
    ...generated,
    ...custom.map((line) => expandFor(input, line, () => renderGlobal(line, scope))),
  ];
  const merged = new Map<string, string>();
  for (const line of lines) {
    const eq = line.indexOf('=');
    if (eq < 0) continue;
    merged.set(line.slice(0, eq), line.slice(eq + 1));
  }
  return [...merged].sort((a, b) => a[0].localeCompare(b[0]));
}
