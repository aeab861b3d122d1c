/**
 * Which tags are a pull request's preview: what the `tags` rules give for that pull request
 * (type=ref,event=pr, with prefix and suffix) and the sha- tags of each of its commits.
 */
import {
  computeMeta,
  DEFAULT_TAG_RULES,
  type GitHubContext,
  type MetaInputs,
  type MetaOptions,
} from '../meta/index.js';
import { readList } from '../meta/list.js';
import { parseRules } from '../meta/rules.js';

/** Only the rules that name a pull request or a commit: a raw or branch tag is never a preview. */
function previewRules(tags: string, withSha: boolean): string {
  const lines = readList('tags', tags);
  const rules = parseRules(lines.length ? lines : readList('tags', DEFAULT_TAG_RULES));
  return rules
    .filter((r) => (r.kind === 'ref' && r.attrs.get('event') === 'pr') || (withSha && r.kind === 'sha'))
    .map((r) => r.line)
    .join('\n');
}

/** The preview tag names of pull request `n` whose commits are `shas`, sorted. */
export function previewTags(
  inputs: MetaInputs,
  ctx: GitHubContext,
  n: number,
  shas: string[],
  opts: MetaOptions,
): string[] {
  // Without a commit no sha- tag is a preview's: the run's own sha (the merge commit on the
  // base branch once merged) names the base branch's image.
  const tags = previewRules(inputs.tags, shas.length > 0);
  if (!tags) return [];
  // latest=false: flavor latest=true would otherwise add `latest`, which no preview owns.
  const flavor = `${inputs.flavor}\nlatest=false`;
  const out = new Set<string>();
  for (const sha of shas.length ? shas : ['']) {
    const prCtx: GitHubContext = { ...ctx, eventName: 'pull_request', ref: `refs/pull/${n}/merge`, sha };
    const meta = computeMeta({ ...inputs, tags, flavor }, prCtx, opts);
    for (const t of meta.tagNames) out.add(t);
  }
  return [...out].sort();
}
