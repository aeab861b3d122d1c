/**
 * Labels on a classic build's image. BuildKit writes `--label`s into the config it makes; the
 * classic builder commits a container for every `--label` (a LABEL step: about a second each
 * on the runners' storage drivers, and never cached, as the values change every run). Two ways
 * here: one LABEL step on top of the built image (labelImage), or, with no container at all,
 * the labels written into a copy of the image's config and that config loaded into the daemon
 * beside the layers it already holds (labelledConfig, configOnlyTar; see relabel.ts).
 */
import { mkdir, readFile } from 'node:fs/promises';
import * as path from 'node:path';
import { pack } from 'tar-stream';
import type { Docker } from '../docker/cli.js';
import { sha256Digest } from '../registry/client.js';

/** The Dockerfile that puts every label on an image in one step (values JSON-quoted). */
export function labelDockerfile(id: string, labels: Record<string, string>): string {
  const pairs = Object.entries(labels).map(([k, v]) => `${JSON.stringify(k)}=${JSON.stringify(v)}`);
  return `FROM ${id}\nLABEL ${pairs.join(' \\\n      ')}\n`;
}

/** Labels and tags an image with one LABEL step on top of it; it adds no layer. */
export async function labelImage(
  docker: Docker,
  id: string,
  labels: Record<string, string>,
  tags: string[],
  dir: string,
  platform?: string,
): Promise<string> {
  if (Object.keys(labels).length === 0) {
    for (const t of tags) await docker.run(['tag', id, t]);
    return id;
  }
  const context = path.join(dir, 'labels');
  await mkdir(context, { recursive: true });
  const iid = path.join(dir, 'labelled');
  const args = ['build', '--quiet', '--force-rm', '--file', '-', '--iidfile', iid];
  if (platform) args.push('--platform', platform);
  for (const t of tags) args.push('--tag', t);
  await docker.run([...args, context], { stdin: labelDockerfile(id, labels) });
  return (await readFile(iid, 'utf8')).trim();
}

interface ImageConfig {
  created?: string;
  config?: { Labels?: Record<string, string> | null } & Record<string, unknown>;
  history?: { created?: string; created_by?: string; comment?: string; empty_layer?: boolean }[];
  rootfs?: { diff_ids?: string[] };
}

/**
 * The image config with `labels` set (over any of the same name, as a later LABEL would) and
 * one history entry that says so, with no layer: what a LABEL step would have made, minus the
 * container. Everything else stays as the builder wrote it.
 */
export function labelledConfig(config: Buffer, labels: Record<string, string>, created: Date): Buffer {
  const c = JSON.parse(config.toString('utf8')) as ImageConfig;
  const when = created.toISOString();
  c.config = { ...c.config, Labels: { ...(c.config?.Labels ?? {}), ...labels } };
  const pairs = Object.entries(labels).map(([k, v]) => `${k}=${JSON.stringify(v)}`);
  c.history = [
    ...(c.history ?? []),
    { created: when, created_by: `LABEL ${pairs.join(' ')}`, comment: 'publish-image', empty_layer: true },
  ];
  c.created = when;
  return Buffer.from(JSON.stringify(c));
}

interface ManifestJson {
  config: { mediaType: string; digest: string; size: number };
  layers: unknown[];
}

/** The same manifest (same layers) naming another config. */
export function withConfig(manifest: Buffer, config: Buffer): Buffer {
  const m = JSON.parse(manifest.toString('utf8')) as ManifestJson;
  m.config = { ...m.config, digest: sha256Digest(config), size: config.length };
  return Buffer.from(JSON.stringify(m, null, 3));
}

/**
 * A `docker load` archive of a config alone: the daemon finds each layer by its chain of
 * diff_ids and reads a layer file only for a layer it lacks, so none is needed when the
 * image's layers are all in it (as they are: the config is a copy of a built image's).
 */
export async function configOnlyTar(config: Buffer, tags: string[]): Promise<Buffer> {
  const c = JSON.parse(config.toString('utf8')) as ImageConfig;
  const hex = sha256Digest(config).slice('sha256:'.length);
  const layers = (c.rootfs?.diff_ids ?? []).map((d) => `${d.replace(/^sha256:/, '')}/layer.tar`);
  const manifest = JSON.stringify([
    { Config: `${hex}.json`, RepoTags: tags.length ? tags : null, Layers: layers },
  ]);
  const tar = pack();
  const parts: Buffer[] = [];
  tar.on('data', (b) => parts.push(b as Buffer));
  const ended = new Promise<void>((resolve, reject) => {
    tar.on('end', resolve);
    tar.on('error', reject);
  });
  tar.entry({ name: `${hex}.json` }, config);
  tar.entry({ name: 'manifest.json' }, manifest);
  tar.finalize();
  await ended;
  return Buffer.concat(parts);
}
