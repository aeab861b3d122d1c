/**
 * SLSA provenance for an image this action built, as an in-toto statement, in the shapes
 * BuildKit writes so that the tools that read BuildKit's (docker buildx imagetools inspect,
 * Docker Hub, docker scout) read ours. Pure: every fact comes in as an argument.
 *
 * Sources (looked up, not guessed):
 * - moby/buildkit docs/attestations/slsa-definitions.md: which fields BuildKit fills and which
 *   only with mode=max (v0.2: builder.id, buildType, invocation.configSource/parameters/
 *   environment, materials, buildConfig (max only), metadata.buildInvocationID/
 *   buildStartedOn/buildFinishedOn/completeness/reproducible and the
 *   `https://mobyproject.org/buildkit@v1#metadata` extension with `vcs`). mode=min leaves the
 *   build arguments and labels out of `invocation.parameters.args` (completeness.parameters
 *   false); mode=max includes them and adds buildConfig.
 * - moby/buildkit docs/attestations/attestation-storage.md: in-toto Statement v0.1 as the
 *   layer's content, subject = the image manifest's digest.
 * - BuildKit's default predicate type is SLSA v0.2 (`https://slsa.dev/provenance/v0.2`); its
 *   `version=v1` option writes SLSA v1 (`https://slsa.dev/provenance/v1`) in an in-toto
 *   Statement v1 — offered here too.
 */

export type ProvenanceMode = 'min' | 'max';
export type SlsaVersion = 'v0.2' | 'v1';

export interface ProvenanceOptions {
  mode: ProvenanceMode;
  version: SlsaVersion;
}

export const PREDICATE_TYPES: Record<SlsaVersion, string> = {
  'v0.2': 'https://slsa.dev/provenance/v0.2',
  v1: 'https://slsa.dev/provenance/v1',
};
export const STATEMENT_TYPES: Record<SlsaVersion, string> = {
  'v0.2': 'https://in-toto.io/Statement/v0.1',
  v1: 'https://in-toto.io/Statement/v1',
};
/**
 * Our own build type (the structure differs from BuildKit's, no LLB, so its URI would mislead):
 * the provenance section of this action's README, in the very repository and at the very
 * reference the workflow ran it from (`uses: owner/repo@ref` sets GITHUB_ACTION_REPOSITORY and
 * GITHUB_ACTION_REF). A local action (`uses: ./`) has neither; it lives in the workflow's own
 * repository, at the commit being built.
 */
export function buildTypeOf(g: GitHubFacts): string {
  const [repo, ref] = g.actionRepository ? [g.actionRepository, g.actionRef] : [g.repository, g.sha];
  return `${g.serverUrl}/${repo}/blob/${ref || 'HEAD'}/README.md#provenance`;
}
/** BuildKit's extension key for VCS hints (slsa-definitions.md, v0.2 metadata). */
export const BUILDKIT_METADATA = 'https://mobyproject.org/buildkit@v1#metadata';

/**
 * The `provenance` input, BuildKit's way: `false` (off), `true` / `mode=min`, `mode=max`, and
 * optionally `version=v0.2|v1`, comma-separated. Returns undefined when off; throws a message
 * (for an InputError) when the value means nothing.
 */
export function parseProvenance(raw: string): ProvenanceOptions | undefined {
  const text = raw.trim();
  if (text === '' || /^false$/i.test(text)) return undefined;
  if (/^true$/i.test(text)) return { mode: 'min', version: 'v0.2' };
  const out: ProvenanceOptions = { mode: 'min', version: 'v0.2' };
  for (const part of text.split(',').map((s) => s.trim())) {
    const [key, value = ''] = part.split('=', 2).map((s) => s.trim());
    if (key === 'mode' && (value === 'min' || value === 'max')) out.mode = value;
    else if (key === 'version' && (value === 'v0.2' || value === 'v1')) out.version = value;
    else
      throw new Error(
        'must be false, true, mode=min or mode=max (optionally followed by ,version=v0.2 or ,version=v1)',
      );
  }
  return out;
}

/** What the GitHub runner says about this run (its GITHUB_* variables). */
export interface GitHubFacts {
  serverUrl: string;
  repository: string;
  sha: string;
  ref: string;
  eventName: string;
  runId: string;
  runAttempt: string;
  /** `owner/repo/.github/workflows/ci.yml@refs/heads/main` */
  workflowRef: string;
  workflowSha: string;
  actor: string;
  /** This action's repository and the ref it was run at (empty for a local action). */
  actionRepository: string;
  actionRef: string;
}

export function githubFacts(env: Record<string, string | undefined>): GitHubFacts {
  const e = (k: string) => env[k] ?? '';
  return {
    serverUrl: e('GITHUB_SERVER_URL') || 'https://github.com',
    repository: e('GITHUB_REPOSITORY'),
    sha: e('GITHUB_SHA'),
    ref: e('GITHUB_REF'),
    eventName: e('GITHUB_EVENT_NAME'),
    runId: e('GITHUB_RUN_ID'),
    runAttempt: e('GITHUB_RUN_ATTEMPT'),
    workflowRef: e('GITHUB_WORKFLOW_REF'),
    workflowSha: e('GITHUB_WORKFLOW_SHA'),
    actor: e('GITHUB_ACTOR'),
    actionRepository: e('GITHUB_ACTION_REPOSITORY'),
    actionRef: e('GITHUB_ACTION_REF'),
  };
}

/** A base image of the build, as the daemon resolved it. */
export interface BaseImage {
  /** As the Dockerfile names it, ARGs applied (`alpine:3.20`). */
  ref: string;
  /** The manifest digest the daemon pulled it by, when it came from a registry. */
  digest?: string;
}

/** What the build was and when it ran; undefined fields were not part of this run. */
export interface BuildFacts {
  github: GitHubFacts;
  /** Dockerfile path relative to the workspace, and the digest of its bytes. */
  dockerfile?: { path: string; digest: string };
  context?: string;
  target?: string;
  /** `NAME=value` lines of the build-args input. */
  buildArgs: string[];
  labels: Record<string, string>;
  bases: BaseImage[];
  /** `os/arch` of the machine that ran the build. */
  builderPlatform: string;
  /** The other build settings, for mode=max. */
  settings: Record<string, unknown>;
  invocationId: string;
  startedOn: string;
  finishedOn: string;
}

/** `pkg:docker/<name>[@<version>]?platform=<os/arch>`, BuildKit's subject and material form. */
export function purl(name: string, version: string | undefined, platform: string): string {
  const short = name.replace(/^(docker\.io|index\.docker\.io)\/(library\/)?/, '');
  return `pkg:docker/${short}${version ? `@${version}` : ''}?platform=${encodeURIComponent(platform)}`;
}

/** `alpine:3.20` → name `alpine`, version `3.20`; a digest reference keeps its digest as version. */
export function splitRef(ref: string): { name: string; version?: string } {
  const at = ref.indexOf('@');
  if (at >= 0) return { name: ref.slice(0, at), version: ref.slice(at + 1) };
  const colon = ref.lastIndexOf(':');
  if (colon > ref.lastIndexOf('/')) return { name: ref.slice(0, colon), version: ref.slice(colon + 1) };
  return { name: ref };
}

const sha256Hex = (digest: string) => digest.replace(/^sha256:/, '');

export function runUrl(g: GitHubFacts): string {
  if (!g.repository || !g.runId) return '';
  const base = `${g.serverUrl}/${g.repository}/actions/runs/${g.runId}`;
  return g.runAttempt ? `${base}/attempts/${g.runAttempt}` : base;
}

/** The workflow file inside its repository, from GITHUB_WORKFLOW_REF. */
export function workflowPath(g: GitHubFacts): string {
  const m = /^[^/]+\/[^/]+\/(.+)@.*$/.exec(g.workflowRef);
  return m ? m[1]! : '';
}

export function sourceUri(g: GitHubFacts): string {
  return g.repository ? `${g.serverUrl}/${g.repository}.git${g.ref ? `#${g.ref}` : ''}` : '';
}

/** BuildKit's `args`: build-arg:NAME and label:KEY only with mode=max, target always. */
export function frontendArgs(f: BuildFacts, mode: ProvenanceMode): Record<string, string> {
  const args: Record<string, string> = {};
  if (mode === 'max') {
    for (const a of f.buildArgs) {
      const at = a.indexOf('=');
      if (at > 0) args[`build-arg:${a.slice(0, at)}`] = a.slice(at + 1);
    }
    for (const [k, v] of Object.entries(f.labels)) args[`label:${k}`] = v;
  }
  if (f.target) args.target = f.target;
  if (f.dockerfile) args.filename = f.dockerfile.path;
  return args;
}

export function materials(
  f: BuildFacts,
  platform: string,
): { uri: string; digest?: Record<string, string> }[] {
  const out: { uri: string; digest?: Record<string, string> }[] = [];
  for (const b of f.bases) {
    const { name, version } = splitRef(b.ref);
    const m: { uri: string; digest?: Record<string, string> } = { uri: purl(name, version, platform) };
    if (b.digest) m.digest = { sha256: sha256Hex(b.digest) };
    out.push(m);
  }
  const src = sourceUri(f.github);
  if (src && f.github.sha) out.push({ uri: src, digest: { sha1: f.github.sha } });
  return out;
}

/** GitHub's facts about the run, as BuildKit's `invocation.environment` carries the platform. */
export function environment(f: BuildFacts): Record<string, string> {
  const g = f.github;
  const env: Record<string, string> = {
    platform: f.builderPlatform,
    github_event_name: g.eventName,
    github_ref: g.ref,
    github_sha: g.sha,
    github_repository: g.repository,
    github_run_id: g.runId,
    github_run_attempt: g.runAttempt,
    github_workflow_ref: g.workflowRef,
    github_workflow_sha: g.workflowSha,
    github_workflow: workflowPath(g),
    github_actor: g.actor,
  };
  for (const k of Object.keys(env)) if (!env[k]) delete env[k];
  return env;
}

/** mode=max's buildConfig: the full build parameters and the Dockerfile's digest. */
export function buildConfig(f: BuildFacts): Record<string, unknown> {
  const out: Record<string, unknown> = { ...f.settings };
  if (f.dockerfile)
    out.dockerfile = { path: f.dockerfile.path, digest: { sha256: sha256Hex(f.dockerfile.digest) } };
  if (f.context) out.context = f.context;
  out.buildArgs = Object.fromEntries(
    f.buildArgs.map((a) =>
      a.includes('=') ? [a.slice(0, a.indexOf('=')), a.slice(a.indexOf('=') + 1)] : [a, ''],
    ),
  );
  return out;
}
