import * as semver from 'semver';
import type { Meta } from './index.js';
import { assembleOutputs, fullTags } from './outputs.js';
import type { ReleaseVersion } from './tags.js';

/** Final-release semver versions among tag names (`1.2.3`, `v1.2.3`), highest first. */
export function releaseVersions(tagNames: string[]): string[] {
  const found = tagNames
    .map((t) => semver.valid(t))
    .filter((v): v is string => v !== null && semver.prerelease(v) === null);
  return [...new Set(found)].sort(semver.rcompare);
}

/**
 * "latest only moves forward": may a release take `latest`, given the tags a registry already
 * holds? False only when a strictly higher final release is already there. A main version not
 * from a final release (`candidate` undefined) is not ours to judge: true.
 */
export function latestMovesForward(
  candidate: ReleaseVersion | undefined,
  existingTagNames: string[],
): boolean {
  if (!candidate) return true;
  const mine = `${candidate.major}.${candidate.minor}.${candidate.patch}`;
  return !releaseVersions(existingTagNames).some((v) => semver.gt(v, mine));
}

/** The same metadata without the appended latest tag (tags, tag names, json, outputs). */
export function withoutLatest(meta: Meta): Meta {
  if (!meta.latest || meta.latestTag === '') return meta;
  const tagNames = meta.tagNames.slice(0, -1);
  const tags = fullTags(meta.images, tagNames);
  const { json, outputs } = assembleOutputs(
    meta.version,
    tags,
    tagNames,
    meta.labelEntries,
    meta.annotations,
    meta.separators,
  );
  return { ...meta, latest: false, latestTag: '', tagNames, tags, json, outputs, labels: json.labels };
}
