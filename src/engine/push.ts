import { imageSize } from '../build/build.js';
import type { Docker } from '../docker/cli.js';
import type { EngineAuth } from '../docker/engine.js';
import { messageOf } from '../errors.js';
import { explainFailure } from '../explain.js';
import type { Logger } from '../log.js';
import { isMediaTypeRefusal, MEDIA_TYPES, type Manifest, type RegistryClient } from '../registry/client.js';
import { dockerManifestToOci } from '../registry/oci.js';
import type { RegistryError } from '../registry/retry.js';
import { mapLimit } from './copy.js';
import { daemonCanPush, daemonPush, prepareTag, registryCopy } from './daemonpush.js';
import { parseImageName } from '../registry/reference.js';
import { findKnownLayers, type KnownImage, type LayerSource } from './known.js';
import { choosePath, daemonKnownBytes, inspectImage, type LocalImage, type PublishPath } from './paths.js';
import { PushRelay, type RelayTarget } from './relay.js';
import { describeReuse, placedForExport, ReuseLedger, type ReuseReport } from './reuse.js';
import { relaySavedImage, type KnownBlobs, type SavedImage } from './saved.js';

/** One image name and the tags it gets, with the registry that holds it. */
export interface Target {
  /** As it appears in the `tags` output, e.g. `ghcr.io/acme/api`. */
  name: string;
  registry: string;
  repository: string;
  tags: string[];
}

export interface Report {
  /** Digest of what the registries hold (the index for multi-platform images). */
  digest: string;
  /** image:tag (or image@digest for push-by-digest) -> digest the registry reported. */
  digests: Record<string, string>;
  /** Per-platform manifest digests, for multi-platform pushes (and attested images). */
  platforms: Record<string, string>;
  /** Per-platform attestation manifest digests, when provenance is attached. */
  attestations?: Record<string, string>;
  failed: { ref: string; error: string }[];
  /** How a single-platform image went out, and what each registry got of its layers. */
  path?: PublishPath;
  reuse?: ReuseReport;
}

export const newReport = (): Report => ({ digest: '', digests: {}, platforms: {}, failed: [] });

/** Manifest PUTs in flight: each is a few hundred bytes, so latency, not bandwidth, bounds them. */
const PARALLEL_PUTS = 8;

export interface LocalPublishOptions {
  log: Logger;
  /** Resolves once held-back tags are out of the targets: manifests wait for it, blobs do not. */
  tagsFinal: Promise<void>;
  /** Where blobs are spooled while they stream. */
  tmpDir: string;
  /** Manifests that may share layers with the image (known.ts `reuseSources`). */
  sources?: LayerSource[];
  /** The base image's reference: the daemon may know its layers' blobs (`docker push` path). */
  base?: string;
  /** Clients to read the sources with (a shorter retry budget off the targets' registries). */
  lookupClients?: (registry: string) => RegistryClient;
  /** Resolves once docker is logged in (a `docker push` with docker's own login needs it). */
  dockerReady?: Promise<void>;
  /** The step's own credentials for a registry: a push through the Engine API carries them. */
  auth?: (registry: string) => EngineAuth | undefined;
  /** The image as the daemon described it, when the caller inspected it already (`source`). */
  inspected?: Promise<LocalImage>;
  /**
   * What the tags name instead of the image manifest (provenance: an index over it and its
   * attestation), made once the image's blobs are everywhere.
   */
  root?: (image: SavedImage, targets: RelayTarget[]) => Promise<Manifest>;
  /**
   * Where the build already put this very image (a classic build labelled through the
   * registry, build/relabel.ts), and what that push did with each layer.
   */
  inRegistry?: {
    registry: string;
    repository: string;
    manifestDigest: string;
    /** Its bytes: the registry holds every blob it names, not (yet) the manifest itself. */
    manifest: Manifest;
    layers: { digest: string; size: number; outcome: 'reused' | 'mounted' | 'uploaded' }[];
  };
}

/**
 * What is known before anything is exported, docker and the registries asked side by side: the
 * image's layers, the base in the daemon, and (still coming) what every source manifest holds.
 * Rejects when docker does not know the image.
 */
async function inspectAndAsk(
  docker: Docker,
  image: string,
  clients: (registry: string) => RegistryClient,
  opts: LocalPublishOptions,
): Promise<{ local: LocalImage; base?: LocalImage; known: Promise<KnownImage> }> {
  const inspected = Promise.all([
    opts.inspected ?? inspectImage(docker, image),
    opts.base ? inspectImage(docker, opts.base).catch(() => undefined) : undefined,
  ]);
  const local = inspected.then(([l]) => l).catch(() => undefined);
  const daemonHas = inspected.then(
    (images) => images.filter((i): i is LocalImage => i !== undefined),
    () => [] as LocalImage[],
  );
  const known = findKnownLayers(
    opts.sources ?? [],
    local.then((l) => l?.diffIds ?? []),
    {
      clients: opts.lookupClients ?? clients,
      platform: local.then((l) => l?.platform ?? { os: 'linux', architecture: 'amd64' }),
      log: opts.log,
      // A docker image's id is its config's digest: the daemon has that config's diff_ids.
      localDiffIds: async (config) => (await daemonHas).find((i) => i.id === config)?.diffIds,
    },
  );
  const [l, base] = await inspected;
  return { local: l, base, known };
}

/**
 * Publishes a single-platform image of the daemon to every target. `docker save` hands over
 * its layers uncompressed; each is compressed once, by us, while a relay streams it to every
 * registry at the same time (mounted into the other repositories of a registry). Every tag is
 * then one manifest PUT.
 */
export async function publishLocalImage(
  docker: Docker,
  image: string,
  targets: Target[],
  clients: (registry: string) => RegistryClient,
  opts: LocalPublishOptions,
  report: Report,
): Promise<void> {
  const ledger = new ReuseLedger();
  try {
    await publishByCheapestPath(docker, image, targets, clients, opts, report, ledger);
  } finally {
    report.reuse = ledger.report();
    for (const line of describeReuse(report.reuse)) opts.log.info(`Layers: ${line}`);
  }
}

function pathFacts(local: LocalImage, base: LocalImage | undefined, known: KnownImage) {
  return {
    layers: local.diffIds.length,
    knownLayers: known.layers.size,
    imageKnown: known.images.has(local.id),
    imageBytes: local.size,
    daemonKnownBytes: daemonKnownBytes(local, base, known),
  };
}

async function publishByCheapestPath(
  docker: Docker,
  image: string,
  targets: Target[],
  clients: (registry: string) => RegistryClient,
  opts: LocalPublishOptions,
  report: Report,
  ledger: ReuseLedger,
): Promise<void> {
  const relayTargets = targets.map((t) => ({ client: clients(t.registry), repo: t.repository }));
  const say = (path: PublishPath, why: string) => {
    report.path = path;
    opts.log.info(`Publishing by ${path}: ${why}`);
  };
  const at = opts.inRegistry;
  if (at && !opts.root) {
    // Nothing to find out: the build's own push put its blobs there, the base's layers with them.
    say('registry copy', `the build put its blobs in ${at.registry}/${at.repository}`);
    for (const l of at.layers) ledger.note(at.registry, l.digest, l.size, l.outcome);
    const o = { clients, log: opts.log, ledger, tagsFinal: opts.tagsFinal, dockerReady: Promise.resolve() };
    const known: KnownImage = { layers: new Map(), images: new Map() };
    const source = { manifestDigest: at.manifestDigest, from: [at], manifest: at.manifest };
    return registryCopy(source, targets, { ...o, known }, report);
  }
  if (!opts.base) {
    // No base to ask about: fresh layers, today's export, the registries asked while it starts.
    const known = inspectAndAsk(docker, image, clients, opts).then(async (f) =>
      placedForExport(await f.known, relayTargets, clients, ledger, opts.log, f.local.id),
    );
    say('export', 'no base image to reuse layers from');
    return exportImage(docker, image, targets, relayTargets, opts, report, ledger, known);
  }
  const asked = inspectAndAsk(docker, image, clients, opts);
  // The name docker push needs, given while docker is inspected: the daemon path is likely.
  const tag = prepareTag(docker, image, parseImageName(opts.base).registry, targets, opts.tagsFinal);
  tag.catch(() => undefined); // awaited on the daemon path
  const facts = await asked.catch(() => undefined);
  if (!facts) return exportImage(docker, image, targets, relayTargets, opts, report, ledger);
  const { local, base } = facts;
  const canPush = daemonCanPush(local, base);
  const known = await facts.known;
  const choice = opts.root
    ? { path: 'export' as const, why: 'provenance is made from the exported image' }
    : choosePath(pathFacts(local, base, known));
  say(choice.path, choice.why);
  const o = {
    clients,
    log: opts.log,
    ledger,
    tagsFinal: opts.tagsFinal,
    dockerReady: opts.dockerReady ?? Promise.resolve(),
    auth: opts.auth,
  };
  if (choice.path === 'daemon push' && canPush) {
    const pushed = await daemonPush(docker, local, base, targets, known, tag, o, report).catch(
      (err: unknown) => {
        opts.log.info(`docker push failed (${messageOf(err).split('\n')[0]})`);
        return false;
      },
    );
    if (pushed) return;
    say('export', 'the daemon did not push the known layers by digest');
  }
  if (choice.path === 'registry copy')
    return registryCopy(known.images.get(local.id)!, targets, { ...o, known }, report);
  const placed = placedForExport(known, relayTargets, clients, ledger, opts.log, local.id);
  return exportImage(docker, image, targets, relayTargets, opts, report, ledger, placed);
}

/** `docker save` of `image` through the relay: every layer not `known` compressed and sent. */
async function saveAndRelay(
  docker: Docker,
  image: string,
  relay: PushRelay,
  known: Promise<KnownBlobs> | undefined,
  tmpDir: string,
): Promise<SavedImage> {
  // The image's size: the export's total on its progress line.
  const read = { known, tmpDir, size: imageSize(docker, image) };
  const save = await docker.stream(['save', image]);
  // When both fail, docker's own words ("No such image", a daemon error) say more than a
  // cut-off archive does.
  const [manifest] = await Promise.all([
    relaySavedImage(save.stdout, relay, read).catch(async (err: unknown) => {
      save.stdout.destroy(); // docker exits instead of blocking on a pipe nobody reads
      const said = await save.done.then(
        () => undefined,
        (e: unknown) => e,
      );
      throw said && !/broken pipe|EPIPE/i.test(messageOf(said)) ? said : err;
    }),
    save.done,
  ]);
  return manifest;
}

/** `docker save`, unknown layers compressed once and relayed to every target, then the tags. */
async function exportImage(
  docker: Docker,
  image: string,
  targets: Target[],
  relayTargets: RelayTarget[],
  opts: LocalPublishOptions,
  report: Report,
  ledger: ReuseLedger,
  known?: Promise<KnownBlobs>,
): Promise<void> {
  const relay = await PushRelay.start({ targets: relayTargets, tmpDir: opts.tmpDir, log: opts.log });
  try {
    let manifest: SavedImage;
    try {
      manifest = await saveAndRelay(docker, image, relay, known, opts.tmpDir);
    } catch (err) {
      await opts.tagsFinal;
      const error = `Could not read image ${image} from the docker daemon: ${messageOf(err)}`;
      for (const t of targets)
        for (const tag of t.tags) report.failed.push({ ref: `${t.name}:${tag}`, error });
      return;
    }
    const [failures] = await Promise.all([relay.settle(), opts.tagsFinal]);
    const reused = (await known?.catch(() => undefined))?.layers;
    for (const l of JSON.parse(manifest.body.toString('utf8')).layers as { digest: string; size: number }[])
      if (!reused?.has(l.digest))
        for (const t of relayTargets) ledger.note(t.client.registry, l.digest, l.size, 'uploaded');
    let root: Manifest = manifest;
    if (opts.root) {
      try {
        root = await opts.root(
          manifest,
          relayTargets.filter((t) => !failures.has(t)),
        );
      } catch (err) {
        for (const t of targets)
          for (const tag of t.tags)
            report.failed.push({
              ref: `${t.name}:${tag}`,
              error: messageOf(explainFailure('Push', t.name, t.registry, err)),
            });
        return;
      }
    }
    await putEveryTag(root, targets, relayTargets, failures, opts.log, report);
  } finally {
    await relay.close();
  }
}

/**
 * PUTs `manifest` under a tag; a registry that refuses Docker media types (zot) gets the same
 * image under OCI media types instead, from its first refusal on, and the log says so once.
 */
function manifestPutter(
  manifest: Manifest,
  log: Logger,
): (t: Target, tag: string, client: RegistryClient) => Promise<string> {
  const oci = new Map<string, ReturnType<typeof dockerManifestToOci>>();
  return async (t, tag, client) => {
    const converted = oci.get(t.registry);
    if (converted) return client.putManifest(t.repository, tag, converted.body, converted.mediaType);
    try {
      return await client.putManifest(t.repository, tag, manifest.body, manifest.mediaType);
    } catch (err) {
      if (!isMediaTypeRefusal(err) || manifest.mediaType !== MEDIA_TYPES.dockerManifest) throw err;
      let m = oci.get(t.registry);
      if (!m) {
        m = dockerManifestToOci(manifest.body);
        oci.set(t.registry, m);
        log.info(
          `${t.registry} refuses Docker media types (${(err as RegistryError).reason}); pushing the same image with OCI media types there (${m.digest})`,
        );
      }
      return client.putManifest(t.repository, tag, m.body, m.mediaType);
    }
  };
}

/** The manifest under every tag of every target whose blobs all arrived; results in plan order. */
async function putEveryTag(
  manifest: Manifest,
  targets: Target[],
  relayTargets: RelayTarget[],
  failures: Map<RelayTarget, unknown>,
  log: Logger,
  report: Report,
): Promise<void> {
  const refs = targets.flatMap((t, i) =>
    t.tags.map((tag) => ({
      t,
      tag,
      client: relayTargets[i]!.client,
      failure: failures.get(relayTargets[i]!),
    })),
  );
  const put = manifestPutter(manifest, log);
  const outcomes = await mapLimit(refs, PARALLEL_PUTS, async ({ t, tag, client, failure }) => {
    const ref = `${t.name}:${tag}`;
    try {
      if (failure) throw failure;
      return { ref, digest: await put(t, tag, client) };
    } catch (err) {
      return { ref, error: messageOf(explainFailure('Push', ref, t.registry, err)) };
    }
  });
  // Reported in the order of the plan, whatever order the PUTs finished in.
  for (const o of outcomes) {
    if (o.digest === undefined) report.failed.push({ ref: o.ref, error: o.error! });
    else {
      report.digests[o.ref] = o.digest;
      report.digest = o.digest;
      log.info(`Pushed ${o.ref} ${o.digest}`);
    }
  }
}

/** Fails the step when anything was not pushed, saying what was and what was not. */
export function assertAllPushed(report: Report): void {
  if (report.failed.length === 0) return;
  const pushed = Object.keys(report.digests);
  const reasons = [...new Set(report.failed.map((f) => f.error))];
  throw new Error(
    `${reasons.join('\n')}\nNot pushed: ${report.failed.map((f) => f.ref).join(', ')}.` +
      (pushed.length ? ` Pushed: ${pushed.join(', ')}.` : ' Nothing was pushed.'),
  );
}
