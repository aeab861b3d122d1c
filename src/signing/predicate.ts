/**
 * The SLSA v1 build provenance predicate GitHub's own attestation action signs
 * (actions/attest-build-provenance; buildType https://actions.github.io/buildtypes/workflow/v1,
 * slsa-framework/github-actions-buildtypes workflow/v1), filled from the runner's variables and
 * the event payload: the same facts the unsigned provenance reads, so the two cannot disagree.
 */
import { type GitHubFacts, runUrl, workflowPath } from '../provenance/predicate.js';

export const SLSA_V1 = 'https://slsa.dev/provenance/v1';
export const GITHUB_WORKFLOW_BUILD_TYPE = 'https://actions.github.io/buildtypes/workflow/v1';

/** What the predicate says about the run beyond GitHubFacts: ids and where the job ran. */
export interface RunIdentity {
  repositoryId: string;
  repositoryOwnerId: string;
  /** `github-hosted` or `self-hosted` (RUNNER_ENVIRONMENT). */
  runnerEnvironment: string;
}

/** Ids from the runner's variables, else from the event payload's repository record. */
export function runIdentity(
  env: Record<string, string | undefined>,
  payload: { repository?: { id?: unknown; owner?: { id?: unknown } } } | undefined,
): RunIdentity {
  const text = (v: unknown) => (v === undefined || v === null ? '' : String(v));
  return {
    repositoryId: env.GITHUB_REPOSITORY_ID || text(payload?.repository?.id),
    repositoryOwnerId: env.GITHUB_REPOSITORY_OWNER_ID || text(payload?.repository?.owner?.id),
    runnerEnvironment: env.RUNNER_ENVIRONMENT || '',
  };
}

/**
 * GitHub's predicate, field for field. builder.id is the workflow that ran the job
 * (job_workflow_ref in the OIDC token; for a workflow that is not reused, GITHUB_WORKFLOW_REF),
 * metadata.invocationId the run attempt's URL.
 */
export function buildProvenancePredicate(g: GitHubFacts, id: RunIdentity): Record<string, unknown> {
  const repoUrl = `${g.serverUrl}/${g.repository}`;
  return {
    buildDefinition: {
      buildType: GITHUB_WORKFLOW_BUILD_TYPE,
      externalParameters: {
        workflow: { ref: g.ref, repository: repoUrl, path: workflowPath(g) },
      },
      internalParameters: {
        github: {
          event_name: g.eventName,
          repository_id: id.repositoryId,
          repository_owner_id: id.repositoryOwnerId,
          runner_environment: id.runnerEnvironment,
        },
      },
      resolvedDependencies: [{ uri: `git+${repoUrl}@${g.ref}`, digest: { gitCommit: g.sha } }],
    },
    runDetails: {
      builder: { id: `${g.serverUrl}/${g.workflowRef}` },
      metadata: { invocationId: runUrl(g) },
    },
  };
}

/** The in-toto Statement v1 over one subject (an image name and its manifest digest). */
export function provenanceStatementFor(
  subject: { name: string; digest: string },
  predicate: Record<string, unknown>,
): Record<string, unknown> {
  return {
    _type: 'https://in-toto.io/Statement/v1',
    subject: [{ name: subject.name, digest: { sha256: subject.digest.replace(/^sha256:/, '') } }],
    predicateType: SLSA_V1,
    predicate,
  };
}
