/** Separators for the joined outputs (empty → newline, as upstream). */
export interface Separators {
  tags: string;
  labels: string;
  annotations: string;
}

export interface MetaJson {
  tags: string[];
  'tag-names': string[];
  labels: Record<string, string>;
  annotations: string[];
}

export interface MetaOutputs {
  version: string;
  tags: string;
  'tag-names': string;
  labels: string;
  annotations: string;
  json: string;
}

/** Every tag of the first image, then the next; bare tag names when no image is enabled. */
export function fullTags(images: string[], tagNames: string[]): string[] {
  if (images.length === 0) return [...tagNames];
  return images.flatMap((image) => tagNames.map((tag) => `${image}:${tag}`));
}

export function assembleOutputs(
  version: string,
  tags: string[],
  tagNames: string[],
  labelEntries: Array<[string, string]>,
  annotations: string[],
  seps: Separators,
): { json: MetaJson; outputs: MetaOutputs } {
  const labels = Object.fromEntries(labelEntries);
  const json: MetaJson = { tags, 'tag-names': tagNames, labels, annotations };
  const outputs: MetaOutputs = {
    version,
    tags: tags.join(seps.tags),
    'tag-names': tagNames.join(seps.tags),
    labels: labelEntries.map(([k, v]) => `${k}=${v}`).join(seps.labels),
    annotations: annotations.join(seps.annotations),
    json: JSON.stringify(json, null, 2),
  };
  return { json, outputs };
}
