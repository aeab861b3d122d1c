/**
 * Removing preview tags from GHCR through the GitHub Packages API. A package version is one
 * manifest with all its tags; it is deleted only when every tag on it is this preview's.
 */
import { messageOf } from '../errors.js';
import { deleteVersion, listVersions } from '../github/packages.js';
import { type Octokit, statusOf } from '../github/octokit.js';
import { type CleanupLog, emptyOutcome, type Outcome } from './outcome.js';

function advice(err: unknown): string {
  const status = statusOf(err);
  if (status === 403 || status === 401)
    return `the GitHub API answered ${status}: the token needs packages: write and delete rights on the package (a GITHUB_TOKEN gets them when the repository has admin access to the package)`;
  if (status === 404) return 'the GitHub API found no such package (404)';
  return messageOf(err);
}

export async function cleanGhcr(
  octokit: Octokit | undefined,
  target: { name: string; repository: string },
  previewTags: string[],
  log: CleanupLog,
): Promise<Outcome> {
  const out = emptyOutcome();
  const ref = (tag: string) => `${target.name}:${tag}`;
  if (!octokit) {
    for (const t of previewTags)
      out.left.push({ ref: ref(t), why: 'no github-token to call the Packages API' });
    log.warning(`${target.name}: preview tags not removed: no github-token`);
    return out;
  }
  let listed;
  try {
    listed = await listVersions(octokit, target.repository);
  } catch (err) {
    const why = advice(err);
    log.warning(`${target.name}: preview tags not removed: ${why}`);
    for (const t of previewTags) out.left.push({ ref: ref(t), why });
    return out;
  }
  const preview = new Set(previewTags);
  for (const v of listed.versions) {
    const mine = v.tags.filter((t) => preview.has(t));
    if (mine.length === 0) continue;
    const others = v.tags.filter((t) => !preview.has(t));
    if (others.length) {
      const why = `${v.name} also carries ${others.join(', ')}; GHCR removes a version with all its tags, so it stays`;
      log.info(`${target.name}: left ${mine.join(', ')}: ${why}`);
      for (const t of mine) out.left.push({ ref: ref(t), why });
      continue;
    }
    try {
      await deleteVersion(octokit, listed.pkg, v.id);
      for (const t of mine) out.removed.push({ ref: ref(t), digest: v.name });
    } catch (err) {
      const why = advice(err);
      log.warning(`${target.name}: ${mine.join(', ')} not removed: ${why}`);
      for (const t of mine) out.left.push({ ref: ref(t), why });
    }
  }
  return out;
}
