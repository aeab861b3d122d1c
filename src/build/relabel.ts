/**
 * A classic build's labels without a container (see labels.ts for why), when the step writes
 * its build cache and the daemon would push the image anyway. The unlabelled image goes first
 * to the cache tag by `docker push`: its layers are the labelled image's, so this is the push
 * the step would have made. Its config is read back from there byte for byte (the daemon hands
 * out a config only inside a whole `docker save`), the labels are written into a copy, and that
 * config is uploaded beside it and loaded into the daemon under the local tags. The step
 * publishes the manifest of that config and the same layers by registry copy (its first tag's
 * PUT makes it); after the push the cache tag names it too (cache.ts), and the unlabelled
 * manifest is deleted.
 */
import { Readable } from 'node:stream';
import type { Docker } from '../docker/cli.js';
import type { EngineAuth } from '../docker/engine.js';
import { daemonCanPush, pushWithProgress } from '../engine/daemonpush.js';
import { inspectImage, type LocalImage } from '../engine/paths.js';
import type { Logger } from '../log.js';
import {
  type Manifest,
  PROBE_DIGEST,
  readAll,
  type RegistryClient,
  sha256Digest,
} from '../registry/client.js';
import { parseImageName } from '../registry/reference.js';
import type { CacheRepo } from './cache/sources.js';
import { configOnlyTar, labelledConfig, withConfig } from './labels.js';

/** The labelled image, in the daemon and in the cache's repository. */
export interface Relabelled {
  id: string;
  /**
   * The labelled manifest, whose blobs are all in the cache's repository: the step's first PUT
   * under a tag puts it there.
   */
  at: { registry: string; repository: string; manifestDigest: string; manifest: Manifest };
  /** The unlabelled manifest, under the cache tag until the step points the tag at `at`. */
  unlabelled: string;
  /** What the push of the unlabelled image did with each layer, for the step's tally. */
  layers: { digest: string; size: number; outcome: 'reused' | 'mounted' | 'uploaded' }[];
}

/**
 * Each layer's fate from docker push's messages (`<short diff_id>: Pushed`, `Mounted from x`,
 * `Layer already exists`), the manifest's layers being in diff_id order.
 */
export function pushOutcomes(output: string, diffIds: string[], manifest: Buffer): Relabelled['layers'] {
  const said = new Map<string, string>();
  for (const line of output.split('\n')) {
    const m = /^([0-9a-f]{12}): (.*)$/.exec(line.trim());
    if (m) said.set(m[1]!, m[2]!);
  }
  const layers = (JSON.parse(manifest.toString('utf8')) as { layers?: { digest: string; size: number }[] })
    .layers;
  if (!layers || layers.length !== diffIds.length) return [];
  return layers.map((l, i) => {
    const status = said.get(diffIds[i]!.replace(/^sha256:/, '').slice(0, 12)) ?? '';
    const outcome = /^Mounted from/.test(status) ? 'mounted' : /^Pushed/.test(status) ? 'uploaded' : 'reused';
    return { digest: l.digest, size: l.size, outcome };
  });
}

export interface RelabelOptions {
  docker: Docker;
  /** A client that may write to the cache's registry. */
  client: RegistryClient;
  auth?: EngineAuth;
  loggedIn: Promise<void>;
  repo: CacheRepo;
  /** The cache tag this run writes. */
  tag: string;
  labels: Record<string, string>;
  /** Local tags for the labelled image. */
  tags: string[];
  log: Logger;
}

/** A config is a few kilobytes; anything near this is not one. */
const CONFIG_LIMIT = 16 * 1024 * 1024;
/** Unknown bytes at most this share of the image, as the publish path's choice (engine/paths.ts). */
const DAEMON_SHARE = 1 / 3;

/**
 * Whether the daemon would push this image itself: it holds the base with a record in the
 * cache's registry (so it mounts the base's layers there instead of compressing them again),
 * and what it has to compress is a small part of the image. Otherwise an export is the faster
 * publish, and the LABEL step is the cheaper way to the labels.
 */
export async function daemonWouldPush(
  docker: Docker,
  image: LocalImage,
  baseRef: string,
  registry: string,
): Promise<boolean> {
  if (!baseRef) return false;
  const base = await inspectImage(docker, baseRef).catch(() => undefined);
  if (!daemonCanPush(image, base)) return false;
  const onRegistry = base.repoDigests.some((r) => {
    try {
      return parseImageName(r).registry === registry;
    } catch {
      return false;
    }
  });
  return onRegistry && image.size - base.size <= image.size * DAEMON_SHARE;
}

/**
 * Whether the registry lets the step delete a manifest by digest: the unlabelled manifest this
 * path pushes first must go afterwards, or every run would leave one behind, untagged (GHCR and
 * Docker Hub keep them as versions of the package). Never rejects: a refusal is a no.
 */
export async function deletesAllowed(client: RegistryClient, repository: string): Promise<boolean> {
  try {
    return (await client.deleteManifest(repository, PROBE_DIGEST)) !== 'unsupported';
  } catch {
    return false;
  }
}

/** Pushes `image` (unlabelled) to the cache tag and makes its labelled twin, as the file's comment says. */
export async function relabel(image: LocalImage, o: RelabelOptions): Promise<Relabelled> {
  const { id } = image;
  const { repository, registry } = o.repo;
  const ref = `${o.repo.name}:${o.tag}`;
  await o.docker.tag(id, ref);
  // A long push says how far it got, as the publish's own does.
  const pushed = await pushWithProgress(o.docker, ref, { auth: o.auth, loggedIn: o.loggedIn, log: o.log });
  if (!pushed.digest) throw new Error(`docker push ${ref} reported no digest`);
  const [manifest, config] = await Promise.all([
    o.client.getManifest(repository, pushed.digest),
    o.client.getBlob(repository, id).then((s) => readAll(s, CONFIG_LIMIT)),
  ]);
  if (sha256Digest(config) !== id) throw new Error(`${ref} does not hold the config of ${id}`);
  const labelled = labelledConfig(config, o.labels, new Date());
  const labelledId = sha256Digest(labelled);
  const body = withConfig(manifest.body, labelled);
  const put = o.client.uploadBlob(repository, labelledId, labelled.length, () => Readable.from([labelled]));
  put.catch(() => undefined); // awaited below
  await o.docker.load(await configOnlyTar(labelled, o.tags));
  const loaded = await inspectImage(o.docker, labelledId);
  if (loaded.diffIds.join() !== image.diffIds.join())
    throw new Error(`the daemon loaded ${labelledId} with other layers than ${id}`);
  await put;
  const manifestDigest = sha256Digest(body);
  o.log.info(
    `Labels written into the config (no LABEL step): ${labelledId}, beside the unlabelled image pushed to ${ref}`,
  );
  return {
    id: labelledId,
    at: {
      registry,
      repository,
      manifestDigest,
      manifest: { body, mediaType: manifest.mediaType, digest: manifestDigest },
    },
    unlabelled: pushed.digest,
    layers: pushOutcomes(pushed.output, image.diffIds, manifest.body),
  };
}
