/**
 * "You may not do that here": the registry knows who we are (the login worked) but that user
 * may not push to (or pull from) this repository. Registries say it as a 401 whose challenge
 * carries `error="insufficient_scope"` (the token protocol), a 403 `DENIED`, or a token that
 * leaves the push action out. None of that gets better by retrying or by logging in again.
 */
import { RegistryError } from './retry.js';

export type DeniedAction = 'push' | 'pull';

export interface AccessDeniedInit {
  registry: string;
  repository: string;
  action: DeniedAction;
  /** The account the registry saw; undefined for anonymous requests. */
  user?: string;
  /** What the registry answered, e.g. `401 insufficient_scope` or `403 DENIED requested access to the resource is denied`. */
  said: string;
  status?: number;
  ref?: string;
  /** The token itself leaves the action on `repository` out: no other request for it can succeed. */
  certain?: boolean;
}

export class AccessDeniedError extends RegistryError {
  readonly repository: string;
  readonly action: DeniedAction;
  readonly user?: string;
  readonly said: string;
  readonly certain: boolean;

  constructor(init: AccessDeniedInit) {
    const who = init.user ?? 'an anonymous user';
    super(
      `registry ${init.registry}: access denied: ${who} may not ${init.action} ${init.action === 'push' ? 'to' : 'from'} ${init.repository} (${init.said})`,
      {
        registry: init.registry,
        retryable: false,
        code: 'DENIED',
        reason: init.said,
        ...(init.status !== undefined ? { status: init.status } : {}),
        ...(init.ref !== undefined ? { ref: init.ref } : {}),
      },
    );
    this.name = 'AccessDeniedError';
    this.repository = init.repository;
    this.action = init.action;
    if (init.user !== undefined) this.user = init.user;
    this.said = init.said;
    this.certain = init.certain ?? false;
  }
}

/** What to check, for the registries whose rules are well known. */
export function deniedAdvice(registry: string, repository: string, action: DeniedAction): string {
  if (action === 'pull')
    return `Check that ${repository} exists and that the user may read it (private repositories need a login with read access).`;
  if (registry === 'docker.io' || registry.endsWith('.docker.io')) {
    const namespace = repository.split('/')[0];
    return `On Docker Hub the repository name must start with your Docker Hub user or an organization you belong to (here "${namespace}/"), and an access token needs the "Read & Write" permission.`;
  }
  if (registry === 'ghcr.io')
    return 'On GHCR the token needs the packages: write permission (for GITHUB_TOKEN: `permissions: packages: write` in the workflow), and an existing package must grant this repository write access (Package settings > Manage Actions access).';
  return `Check that the user has push (write) permission on ${repository} on ${registry}, that its namespace, organization or project exists, and that the token has write scope.`;
}

/** One sentence for the person reading the log: who was denied what, where, and what to check. */
export function deniedMessage(e: AccessDeniedError): string {
  const where = `${e.action} ${e.action === 'push' ? 'to' : 'from'} ${e.repository}`;
  if (!e.user)
    return `Access denied: ${e.registry} does not let an anonymous user ${where} (${e.said}). Give username/password (or registry-auth) for ${e.registry}.`;
  return `Access denied: ${e.registry} says user ${e.user} may not ${where} (${e.said}). The login itself worked; nothing was retried. ${deniedAdvice(e.registry, e.repository, e.action)}`;
}
