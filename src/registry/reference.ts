/**
 * Image name parsing with the same defaults as the docker CLI: a first path component
 * naming a host (it has a dot or a port, or is `localhost`) is the registry, anything
 * else lives on Docker Hub, where single-component names get the `library/` prefix.
 */

export const DOCKER_HUB = 'docker.io';
export const DOCKER_HUB_API = 'registry-1.docker.io';

export interface ImageName {
  /** Registry as docker names it: `docker.io` by default, else `host[:port]`. */
  registry: string;
  /** Repository path inside the registry (`library/x` for official Hub images). */
  repository: string;
  /** Host[:port] the registry HTTP API answers on (`registry-1.docker.io` for Docker Hub). */
  apiHost: string;
  /** Tag, when the name carried one. */
  tag?: string;
  /** Digest, when the name carried one (`sha256:...`). */
  digest?: string;
}

const COMPONENT = /^[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*$/;
const TAG = /^[\w][\w.-]{0,127}$/;
const DIGEST = /^[a-z0-9]+(?:[.+_-][a-z0-9]+)*:[a-zA-Z0-9=_-]+$/;

/** Parses `[registry/]repo[:tag][@digest]`; throws on names docker would reject. */
export function parseImageName(name: string): ImageName {
  let rest = name.trim();
  if (!rest) throw new Error('image name is empty');
  let digest: string | undefined;
  const at = rest.indexOf('@');
  if (at >= 0) {
    digest = rest.slice(at + 1);
    rest = rest.slice(0, at);
    if (!DIGEST.test(digest)) throw new Error(`invalid digest in image name "${name}"`);
  }
  let tag: string | undefined;
  const lastSlash = rest.lastIndexOf('/');
  const colon = rest.lastIndexOf(':');
  if (colon > lastSlash) {
    tag = rest.slice(colon + 1);
    rest = rest.slice(0, colon);
    if (!TAG.test(tag)) throw new Error(`invalid tag in image name "${name}"`);
  }
  let registry = DOCKER_HUB;
  let repository = rest;
  const slash = rest.indexOf('/');
  if (slash >= 0) {
    const first = rest.slice(0, slash);
    if (first.includes('.') || first.includes(':') || first === 'localhost' || first.startsWith('[')) {
      registry = first;
      repository = rest.slice(slash + 1);
    }
  }
  if (registry === 'index.docker.io' || registry === DOCKER_HUB_API) registry = DOCKER_HUB;
  if (registry === DOCKER_HUB && !repository.includes('/')) repository = `library/${repository}`;
  if (!repository || !repository.split('/').every((c) => COMPONENT.test(c))) {
    throw new Error(`invalid repository name in image name "${name}" (must be lowercase path components)`);
  }
  const result: ImageName = { registry, repository, apiHost: apiHostOf(registry) };
  if (tag !== undefined) result.tag = tag;
  if (digest !== undefined) result.digest = digest;
  return result;
}

/** The host[:port] serving the HTTP API for a registry as docker names it. */
export function apiHostOf(registry: string): string {
  return registry === DOCKER_HUB || registry === 'index.docker.io' ? DOCKER_HUB_API : registry;
}

/** Strips an optional `:port` (and IPv6 brackets) from `host[:port]`. */
export function hostnameOf(host: string): string {
  if (host.startsWith('[')) {
    const end = host.indexOf(']');
    return end > 0 ? host.slice(1, end) : host;
  }
  const colons = host.split(':').length - 1;
  if (colons === 1) return host.slice(0, host.indexOf(':'));
  return host; // bare hostname, or a bare IPv6 address
}

/** True for 127.0.0.0/8, `localhost` and `::1`: registries there are spoken to over plain HTTP. */
export function isLoopback(host: string): boolean {
  const h = hostnameOf(host.trim()).toLowerCase();
  if (h === 'localhost' || h.endsWith('.localhost')) return true;
  if (h === '::1' || h === '0:0:0:0:0:0:0:1') return true;
  const m = /^127\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})$/.exec(h);
  return m !== null && m.slice(1).every((o) => Number(o) <= 255);
}

/** Base URL of a registry's HTTP API (`http` on loopback, `https` elsewhere). */
export function registryBaseUrl(registry: string): string {
  const host = apiHostOf(registry);
  return `${isLoopback(host) ? 'http' : 'https'}://${host}`;
}

/** `repo:tag` or `repo@sha256:...` for messages. */
export function refString(repository: string, ref: string): string {
  return ref.includes(':') ? `${repository}@${ref}` : `${repository}:${ref}`;
}
