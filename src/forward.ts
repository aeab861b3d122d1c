import * as semver from 'semver';

export interface HeldBack {
  /** The floating tag left where it is. */
  tag: string;
  /** The newer release already in the repository that keeps it there. */
  newer: string;
}

/** Final releases among a repository's tags (`1.2.3` or `v1.2.3`). */
function releases(existing: string[]): semver.SemVer[] {
  return existing
    .filter((t) => /^v?\d+\.\d+\.\d+$/.test(t))
    .map((t) => semver.parse(t))
    .filter((v): v is semver.SemVer => v !== null);
}

/**
 * Floating tags that pushing `version` would move backwards: `latest` when the repository
 * already has a higher release, `major.minor` / `major` when it has a higher release of that
 * same line. Pure, so the rule is tested without a registry.
 */
export function heldBackTags(
  version: string,
  tagNames: string[],
  latestTag: string | undefined,
  existing: string[],
): HeldBack[] {
  const v = semver.parse(version);
  if (!v || v.prerelease.length) return [];
  const known = releases(existing);
  const newest = (same: (r: semver.SemVer) => boolean) =>
    known.filter((r) => same(r) && semver.gt(r, v)).sort(semver.rcompare)[0];
  const out: HeldBack[] = [];
  for (const tag of tagNames) {
    let newer: semver.SemVer | undefined;
    if (tag === latestTag) newer = newest(() => true);
    else if (new RegExp(`^v?${v.major}\\.${v.minor}$`).test(tag))
      newer = newest((r) => r.major === v.major && r.minor === v.minor);
    else if (new RegExp(`^v?${v.major}$`).test(tag)) newer = newest((r) => r.major === v.major);
    if (newer) out.push({ tag, newer: newer.raw });
  }
  return out;
}

/**
 * The tags `heldBackTags` would leave alone for some registry's state: those a run can only
 * settle by asking the registries (a release one patch above `version` holds back every one).
 */
export function floatingTags(version: string, tagNames: string[], latestTag: string | undefined): string[] {
  const v = semver.parse(version);
  if (!v || v.prerelease.length) return [];
  const higher = `${v.major}.${v.minor}.${v.patch + 1}`;
  return heldBackTags(version, tagNames, latestTag, [higher]).map((h) => h.tag);
}
