/**
 * Puts blobs that already exist somewhere into every target repository without compressing
 * anything: nothing when the target has it, a cross-repository mount when a source is on the
 * same registry, else a registry-to-registry copy of the bytes as they are. Keeps the tally
 * of what each registry got, for the log, the summary and the `metadata` output.
 */
import { messageOf } from '../errors.js';
import type { Logger } from '../log.js';
import type { RegistryClient } from '../registry/client.js';
import { mapLimit } from './copy.js';
import type { BlobLocation, KnownImage } from './known.js';
import type { RelayTarget } from './relay.js';
import type { KnownBlobs } from './saved.js';

export type Outcome = 'reused' | 'mounted' | 'copied' | 'uploaded';
export interface Tally {
  layers: number;
  bytes: number;
}
/** registry -> what its layers cost: reused (already there), mounted, copied, uploaded. */
export type ReuseReport = Record<string, Record<Outcome, Tally>>;

const RANK: Record<Outcome, number> = { reused: 0, mounted: 1, copied: 2, uploaded: 3 };
const OUTCOMES = Object.keys(RANK) as Outcome[];

/** Per registry and layer, the costliest thing any of its repositories needed. */
export class ReuseLedger {
  private readonly seen = new Map<string, Map<string, { outcome: Outcome; size: number }>>();

  note(registry: string, digest: string, size: number, outcome: Outcome): void {
    let m = this.seen.get(registry);
    if (!m) this.seen.set(registry, (m = new Map()));
    const had = m.get(digest);
    if (!had || RANK[outcome] > RANK[had.outcome]) m.set(digest, { outcome, size });
  }

  report(): ReuseReport {
    const out: ReuseReport = {};
    for (const [registry, blobs] of this.seen) {
      const r = Object.fromEntries(OUTCOMES.map((o) => [o, { layers: 0, bytes: 0 }])) as Record<
        Outcome,
        Tally
      >;
      for (const { outcome, size } of blobs.values()) {
        r[outcome].layers++;
        r[outcome].bytes += size;
      }
      out[registry] = r;
    }
    return out;
  }
}

export interface BlobPlan {
  /** A manifest in the target repository lists the blob: it is there, no need to ask. */
  there: boolean;
  /** A repository on the target's registry to mount it from. */
  mount?: string;
  /** Where to stream it from when it is not there and cannot be mounted. */
  copy?: BlobLocation;
}

/** How a target gets a blob that `from` hold (pure: the planner's decision table). */
export function planBlob(to: BlobLocation, from: BlobLocation[]): BlobPlan {
  const sameRegistry = from.filter((f) => f.registry === to.registry);
  if (sameRegistry.some((f) => f.repository === to.repository)) return { there: true };
  const mount = sameRegistry[0]?.repository;
  // Reading from the target's own registry is as good a copy source as any other.
  const copy = from.find((f) => f.registry !== to.registry) ?? sameRegistry[0];
  return { there: false, ...(mount ? { mount } : {}), ...(copy ? { copy } : {}) };
}

export interface KnownBlob {
  digest: string;
  size: number;
  from: BlobLocation[];
  /** Layers are tallied; the config is not a layer. */
  layer: boolean;
}

export interface PlaceTarget {
  client: RegistryClient;
  repo: string;
}

export interface PlaceOptions {
  clients: (registry: string) => RegistryClient;
  ledger: ReuseLedger;
  log: Logger;
  /** Blob requests in flight at once (default 8: most are HEADs and mounts). */
  concurrency?: number;
  /** Told of every blob a target could not get (`registry/repo`, digest). */
  missed?: (where: string, digest: string) => void;
}

/** Makes one blob exist in one target; throws when it cannot. */
async function placeOne(t: PlaceTarget, b: KnownBlob, o: PlaceOptions): Promise<Outcome> {
  const to = { registry: t.client.registry, repository: t.repo };
  const plan = planBlob(to, b.from);
  if (plan.there) return 'reused';
  if (await t.client.hasBlob(t.repo, b.digest)) return 'reused';
  if (plan.mount && (await t.client.mountBlob(t.repo, b.digest, plan.mount))) return 'mounted';
  const src = plan.copy;
  if (!src) throw new Error('no repository to copy it from');
  await t.client.uploadBlob(t.repo, b.digest, b.size, () =>
    o.clients(src.registry).getBlob(src.repository, b.digest),
  );
  return 'copied';
}

/**
 * Places every blob in every target, in parallel. Returns the digests now in every target; a
 * blob that could not be placed somewhere is left out (the caller sends it the usual way).
 */
export async function placeBlobs(
  blobs: KnownBlob[],
  targets: PlaceTarget[],
  o: PlaceOptions,
): Promise<Set<string>> {
  const pairs = targets.flatMap((t) => blobs.map((b) => ({ t, b })));
  const missed = new Set<string>();
  await mapLimit(pairs, o.concurrency ?? 8, async ({ t, b }) => {
    try {
      const outcome = await placeOne(t, b, o);
      if (b.layer) o.ledger.note(t.client.registry, b.digest, b.size, outcome);
      o.log.debug(`${t.client.registry}/${t.repo}: ${b.digest} ${outcome}`);
    } catch (err) {
      missed.add(b.digest);
      o.missed?.(`${t.client.registry}/${t.repo}`, b.digest);
      o.log.info(
        `${t.client.registry}/${t.repo}: could not reuse ${b.digest} (${messageOf(err)}); sending it`,
      );
    }
  });
  return new Set(blobs.map((b) => b.digest).filter((d) => !missed.has(d)));
}

/** Known layers placed in every target, in the form the export path skips them by. */
export async function placedForExport(
  known: KnownImage,
  relayTargets: RelayTarget[],
  clients: (registry: string) => RegistryClient,
  ledger: ReuseLedger,
  log: Logger,
  imageId: string,
): Promise<KnownBlobs> {
  const layers = [...known.layers.values()];
  const blobs = layers.map((l) => ({ ...l, layer: true }));
  // The very image was pushed before (a tag pushed again): its config need not be sent either.
  const image = known.images.get(imageId);
  if (image)
    blobs.push({
      diffId: '',
      digest: imageId,
      size: image.configSize,
      mediaType: '',
      from: image.from,
      layer: false,
    });
  const placed = await placeBlobs(blobs, relayTargets, { clients, ledger, log });
  const out: KnownBlobs = { layers: new Map(), configs: new Set(placed.has(imageId) ? [imageId] : []) };
  for (const l of layers)
    if (placed.has(l.digest)) {
      const blob = { mediaType: l.mediaType, digest: l.digest, size: l.size };
      out.layers.set(l.diffId, blob);
      out.layers.set(l.digest, blob);
    }
  const held = new Set([...out.layers.values()]).size;
  // Before the export starts: reused where they were, or mounted or copied there just now.
  if (held) log.debug(`every registry already holds ${held} of the layers`);
  return out;
}

const MiB = 1024 * 1024;
const size = (n: number) =>
  n >= MiB ? `${(n / MiB).toFixed(1)} MiB` : n >= 1024 ? `${Math.round(n / 1024)} KiB` : `${n} B`;

/** One line per registry: `reg: 2 layers (24.1 MiB) mounted, 1 (1.0 MiB) uploaded`. */
export function describeReuse(r: ReuseReport): string[] {
  return Object.entries(r).map(([registry, t]) => {
    const parts = OUTCOMES.filter((o) => t[o].layers > 0).map(
      (o) => `${t[o].layers} layer${t[o].layers === 1 ? '' : 's'} (${size(t[o].bytes)}) ${o}`,
    );
    return `${registry}: ${parts.join(', ') || 'no layers'}`;
  });
}
