import { InputError } from '../errors.js';
import { type GitHubContext, type RunEvent, workflowContext } from './context.js';
import type { ExpressionScope } from './expressions.js';
import { type Flavor, parseFlavor } from './flavor.js';
import { type ImageName, parseImages } from './images.js';
import { mergeKeyValues, ociLines, repoRecord } from './labels.js';
import { readList, readListLines } from './list.js';
import { assembleOutputs, fullTags, type MetaJson, type MetaOutputs, type Separators } from './outputs.js';
import { parseRules, type TagRule } from './rules.js';
import { computeVersion, type ReleaseVersion, tagNamesOf } from './tags.js';

export { workflowContext };
export type {
  GitHubContext,
  RunEvent,
  Flavor,
  ImageName,
  TagRule,
  ReleaseVersion,
  MetaJson,
  MetaOutputs,
  Separators,
};

export interface MetaInputs {
  images: string;
  tags: string;
  flavor: string;
  labels: string;
  annotations: string;
  sepTags: string;
  sepLabels: string;
  sepAnnotations: string;
}

export interface MetaOptions {
  shortShaLength: number;
  annotationLevels: string[];
}

export interface Meta {
  /** Main version ('' when no tag was produced). */
  version: string;
  /** Enabled image names, lower-cased, in input order. */
  images: string[];
  /** Every parsed image line (disabled ones included). */
  imageList: ImageName[];
  /** Tag part only, output order, with the latest tag last when latest. */
  tagNames: string[];
  /** `image:tag` for each enabled image (grouped per image), or bare tags without images. */
  tags: string[];
  latest: boolean;
  /** The appended latest tag name ('latest' with onlatest prefix/suffix), '' when not latest. */
  latestTag: string;
  labels: Record<string, string>;
  /** Labels as sorted key/value pairs (the order of the `labels` output). */
  labelEntries: Array<[string, string]>;
  annotations: string[];
  json: MetaJson;
  outputs: MetaOutputs;
  warnings: string[];
  /** Tag rules after defaults and priority sort. */
  rules: TagRule[];
  flavor: Flavor;
  separators: Separators;
  /** The parsed version when the main version came from a semver/pep440 rule on a final release. */
  semver?: ReleaseVersion;
}

/** Our action's default `tags` (not metadata-action's). */
export const DEFAULT_TAG_RULES = [
  'type=schedule',
  'type=semver,pattern={{version}}',
  'type=semver,pattern={{major}}.{{minor}}',
  'type=ref,event=branch',
  'type=ref,event=pr',
  'type=sha',
  'type=raw,value=latest,enable={{is_default_branch}}',
].join('\n');

const DEFAULT_SHORT_SHA_LENGTH = 7;

export function metaOptionsFromEnv(env: Record<string, string | undefined>): MetaOptions {
  let shortShaLength = DEFAULT_SHORT_SHA_LENGTH;
  const len = env.DOCKER_METADATA_SHORT_SHA_LENGTH;
  if (len) {
    if (Number.isNaN(Number(len))) {
      throw new InputError('DOCKER_METADATA_SHORT_SHA_LENGTH', len, 'is not a valid number');
    }
    shortShaLength = Number(len);
  }
  const levels = env.DOCKER_METADATA_ANNOTATIONS_LEVELS || 'manifest';
  return { shortShaLength, annotationLevels: levels.split(',') };
}

export function computeMeta(inputs: MetaInputs, ctx: GitHubContext, opts: MetaOptions): Meta {
  const imageList = parseImages(readList('images', inputs.images));
  const flavor = parseFlavor(readList('flavor', inputs.flavor));
  let tagLines = readListLines('tags', inputs.tags);
  if (tagLines.length === 0) tagLines = readListLines('tags', DEFAULT_TAG_RULES);
  const rules = parseRules(tagLines);
  const separators: Separators = {
    tags: inputs.sepTags || '\n',
    labels: inputs.sepLabels || '\n',
    annotations: inputs.sepAnnotations || '\n',
  };

  const scope: ExpressionScope = { ctx, shortShaLength: opts.shortShaLength };
  const repo = repoRecord(ctx);
  const result = computeVersion(rules, flavor, scope, repo.defaultBranch);
  const version = result.main ?? '';
  const warnings = [...result.warnings];
  if (version === '') {
    warnings.push('No Docker image version has been generated. Check tags input.');
    warnings.push('No Docker tag has been generated. Check tags input.');
  }

  const images = imageList.filter((i) => i.enable).map((i) => i.name);
  const { names: tagNames, latestTag } = tagNamesOf(result, flavor);
  const tags = fullTags(images, tagNames);

  const generated = ociLines(repo, version, ctx);
  const labelEntries = mergeKeyValues(generated, readList('labels', inputs.labels), 'labels', scope);
  const annotationEntries = mergeKeyValues(
    generated,
    readList('annotations', inputs.annotations),
    'annotations',
    scope,
  );
  const annotations = opts.annotationLevels.flatMap((level) =>
    annotationEntries.map(([k, v]) => `${level}:${k}=${v}`),
  );

  const { json, outputs } = assembleOutputs(version, tags, tagNames, labelEntries, annotations, separators);
  return {
    version,
    images,
    imageList,
    tagNames,
    tags,
    latest: result.main !== undefined && result.latest,
    latestTag,
    labels: json.labels,
    labelEntries,
    annotations,
    json,
    outputs,
    warnings,
    rules,
    flavor,
    separators,
    semver: result.release,
  };
}
