/** GHCR's package versions through the GitHub Packages REST API. */
import { type Octokit, statusOf } from './octokit.js';

export interface PackageVersion {
  id: number;
  /** The manifest digest. */
  name: string;
  tags: string[];
}

export interface ContainerPackage {
  owner: string;
  /** Package name: the repository path after the owner (`api` or `team/api`). */
  name: string;
  /** Whether the owner is an organization (the API paths differ for users). */
  org: boolean;
}

/** `acme/team/api` (a ghcr.io repository path) as the package API names it. */
export function packageOf(repository: string): { owner: string; name: string } {
  const slash = repository.indexOf('/');
  return { owner: repository.slice(0, slash), name: repository.slice(slash + 1) };
}

/**
 * Lists every version of a container package, trying the organization endpoint first and
 * the user endpoint when the owner is not an organization (404).
 */
export async function listVersions(
  octokit: Octokit,
  repository: string,
): Promise<{ pkg: ContainerPackage; versions: PackageVersion[] }> {
  const { owner, name } = packageOf(repository);
  const common = { package_type: 'container' as const, package_name: name, per_page: 100 };
  let org = true;
  let raw;
  try {
    raw = await octokit.paginate(octokit.rest.packages.getAllPackageVersionsForPackageOwnedByOrg, {
      ...common,
      org: owner,
    });
  } catch (err) {
    if (statusOf(err) !== 404) throw err;
    org = false;
    raw = await octokit.paginate(octokit.rest.packages.getAllPackageVersionsForPackageOwnedByUser, {
      ...common,
      username: owner,
    });
  }
  const versions = raw.map((v) => ({
    id: v.id,
    name: v.name,
    tags: v.metadata?.container?.tags ?? [],
  }));
  return { pkg: { owner, name, org }, versions };
}

export async function deleteVersion(octokit: Octokit, pkg: ContainerPackage, id: number): Promise<void> {
  const common = { package_type: 'container' as const, package_name: pkg.name, package_version_id: id };
  if (pkg.org) await octokit.rest.packages.deletePackageVersionForOrg({ ...common, org: pkg.owner });
  else await octokit.rest.packages.deletePackageVersionForUser({ ...common, username: pkg.owner });
}
