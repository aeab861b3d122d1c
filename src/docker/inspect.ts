/** What the daemon says about a local image, read once and shared by every path that needs it. */
import { InputError } from '../errors.js';
import type { Platform } from '../registry/oci.js';
import { DockerError, type Docker } from './cli.js';

/** What `docker image inspect` says about an image. */
export interface LocalImage {
  id: string;
  diffIds: string[];
  /** Uncompressed bytes of all its layers. */
  size: number;
  platform: Platform;
  repoTags: string[];
  repoDigests: string[];
}

interface InspectJson {
  Id: string;
  RepoTags?: string[] | null;
  RepoDigests?: string[] | null;
  Size?: number;
  Os?: string;
  Architecture?: string;
  Variant?: string;
  RootFS?: { Layers?: string[] | null };
}

export async function inspectImage(docker: Docker, ref: string): Promise<LocalImage> {
  const j = (await docker.inspect(ref)) as InspectJson;
  const platform: Platform = { os: j.Os ?? 'linux', architecture: j.Architecture ?? 'amd64' };
  if (j.Variant) platform.variant = j.Variant;
  return {
    id: j.Id,
    diffIds: j.RootFS?.Layers ?? [],
    size: j.Size ?? 0,
    platform,
    repoTags: j.RepoTags ?? [],
    repoDigests: j.RepoDigests ?? [],
  };
}

/**
 * The `source` input's image, or a clear error naming the input when the daemon does not have
 * it. One inspect serves the check and every later decision (id, layers, size, platform).
 */
export async function inspectSource(docker: Docker, ref: string): Promise<LocalImage> {
  try {
    return await inspectImage(docker, ref);
  } catch (err) {
    if (err instanceof DockerError && /No such image|not found/i.test(err.stderr))
      throw new InputError(
        'source',
        ref,
        'is not an image in the local docker daemon; build or pull it in an earlier step',
      );
    throw err;
  }
}

/**
 * The image `image` was built on, as the daemon knows it: of the images it pulled or pushed
 * (they have a registry record), the one with the most layers that are the first layers of
 * `image`; its records name it in registries, by digest. Only through the Engine API (one
 * listing, then an inspect per candidate, each a local request); undefined without it.
 */
export async function daemonBase(docker: Docker, image: LocalImage): Promise<LocalImage | undefined> {
  if (!docker.engine || image.diffIds.length < 2) return undefined;
  const listed = await docker.engine.images();
  const candidates = listed.filter(
    (i) => i.Id !== image.id && (i.RepoDigests?.length ?? 0) > 0 && (i.Size ?? 0) <= image.size,
  );
  let best: LocalImage | undefined;
  for (let i = 0; i < candidates.length; i += 16) {
    const batch = candidates.slice(i, i + 16);
    const seen = await Promise.all(batch.map((c) => inspectImage(docker, c.Id).catch(() => undefined)));
    for (const c of seen) {
      if (!c || c.diffIds.length >= image.diffIds.length) continue;
      if (!c.diffIds.every((d, k) => image.diffIds[k] === d)) continue;
      if (!best || c.diffIds.length > best.diffIds.length) best = c;
    }
  }
  return best;
}
