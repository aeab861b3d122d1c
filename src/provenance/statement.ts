/**
 * The in-toto statement of one image manifest, with its SLSA predicate (v0.2, BuildKit's
 * default, or v1). Shapes and mode=min/max rules: see predicate.ts for the sources.
 */
import {
  buildTypeOf,
  PREDICATE_TYPES,
  type BuildFacts,
  type ProvenanceOptions,
  buildConfig,
  environment,
  frontendArgs,
  materials,
  runUrl,
  sourceUri,
  STATEMENT_TYPES,
  BUILDKIT_METADATA,
  workflowPath,
  purl,
} from './predicate.js';

/** The image the statement is about: its manifest digest, names and platform. */
export interface Subject {
  digest: string;
  /** Every image name and tag it was pushed as (no tag for push-by-digest). */
  refs: { name: string; tag?: string }[];
  platform: string;
}

function configSource(f: BuildFacts): { uri?: string; digest?: Record<string, string> } {
  const out: { uri?: string; digest?: Record<string, string> } = {};
  const uri = sourceUri(f.github);
  if (uri) out.uri = uri;
  if (uri && f.github.sha) out.digest = { sha1: f.github.sha };
  return out;
}

function vcs(f: BuildFacts): Record<string, string> | undefined {
  const g = f.github;
  if (!g.repository) return undefined;
  return { source: `${g.serverUrl}/${g.repository}`, revision: g.sha };
}

const request = (f: BuildFacts, o: ProvenanceOptions) => ({
  frontend: 'dockerfile.v0',
  args: frontendArgs(f, o.mode),
  locals: f.dockerfile ? [{ name: 'context' }, { name: 'dockerfile' }] : [],
});

/** SLSA v0.2, field by field as BuildKit fills it (docs/attestations/slsa-definitions.md). */
export function slsaV02(f: BuildFacts, o: ProvenanceOptions, platform: string): Record<string, unknown> {
  const meta: Record<string, unknown> = {
    buildInvocationID: f.invocationId,
    buildStartedOn: f.startedOn,
    buildFinishedOn: f.finishedOn,
    completeness: { parameters: o.mode === 'max', environment: true, materials: false },
    reproducible: false,
  };
  const v = vcs(f);
  if (v) meta[BUILDKIT_METADATA] = { vcs: v };
  const predicate: Record<string, unknown> = {
    builder: { id: runUrl(f.github) },
    buildType: buildTypeOf(f.github),
    invocation: {
      configSource: { ...configSource(f), ...(f.dockerfile ? { entryPoint: f.dockerfile.path } : {}) },
      parameters: request(f, o),
      environment: environment(f),
    },
  };
  if (o.mode === 'max') predicate.buildConfig = buildConfig(f);
  predicate.metadata = meta;
  predicate.materials = materials(f, platform);
  return predicate;
}

/** SLSA v1 (BuildKit's `version=v1`): buildDefinition + runDetails. */
export function slsaV1(f: BuildFacts, o: ProvenanceOptions, platform: string): Record<string, unknown> {
  const g = f.github;
  const internal: Record<string, unknown> = { builderPlatform: f.builderPlatform, github: environment(f) };
  if (o.mode === 'max') internal.buildConfig = buildConfig(f);
  const metadata: Record<string, unknown> = {
    invocationID: f.invocationId,
    startedOn: f.startedOn,
    finishedOn: f.finishedOn,
    buildkit_completeness: { request: o.mode === 'max', resolvedDependencies: false },
    buildkit_reproducible: false,
  };
  const v = vcs(f);
  if (v) metadata.buildkit_metadata = { vcs: v };
  return {
    buildDefinition: {
      buildType: buildTypeOf(f.github),
      externalParameters: {
        configSource: { ...configSource(f), ...(f.dockerfile ? { path: f.dockerfile.path } : {}) },
        request: request(f, o),
        workflow: { ref: g.ref, repository: g.repository, path: workflowPath(g) },
      },
      internalParameters: internal,
      resolvedDependencies: materials(f, platform),
    },
    runDetails: { builder: { id: runUrl(g) }, metadata },
  };
}

/** Every secret value replaced by `***`, in every string of `value`. */
export function redact<T>(value: T, secrets: string[]): T {
  const live = secrets.filter((s) => s.length > 0);
  if (live.length === 0) return value;
  return JSON.parse(JSON.stringify(value), (_k, v: unknown) =>
    typeof v === 'string' ? live.reduce((s, secret) => s.split(secret).join('***'), v) : v,
  ) as T;
}

/** The in-toto statement BuildKit would store for this image (attestation-storage.md). */
export function provenanceStatement(
  subject: Subject,
  facts: BuildFacts,
  o: ProvenanceOptions,
  secrets: string[],
): Record<string, unknown> {
  const predicate =
    o.version === 'v1' ? slsaV1(facts, o, subject.platform) : slsaV02(facts, o, subject.platform);
  const digest = { sha256: subject.digest.replace(/^sha256:/, '') };
  return redact(
    {
      _type: STATEMENT_TYPES[o.version],
      predicateType: PREDICATE_TYPES[o.version],
      // BuildKit names each subject by its package URL, one per image name and tag.
      subject: (subject.refs.length ? subject.refs : [{ name: '_' }]).map((r) => ({
        name: r.name === '_' ? '_' : purl(r.name, r.tag, subject.platform),
        digest,
      })),
      predicate,
    },
    secrets,
  );
}
