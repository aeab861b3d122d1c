/**
 * `FROM scratch` for one platform, for the classic builder.
 *
 * dockerd's classic builder gives `scratch` no architecture. A step that only changes the
 * config (ARG, LABEL, ENV, WORKDIR, ...) right after `FROM scratch` is committed with the
 * daemon's own architecture (the child of an image without one inherits the daemon's), and the
 * next file step then refuses its own parent: "image with reference sha256:… was found but
 * does not match the specified platform: wanted linux/arm64, actual: linux/amd64" — with or
 * without the cache. The cache makes it worse on a warm daemon: every step on `scratch` has
 * the same (empty) parent whatever the platform, so one platform's steps are handed to the
 * next. Starting such stages from an empty image *of the target platform* (no layers, just a
 * config that names the platform) fixes both: every commit inherits the right architecture,
 * and each platform's steps hang below a parent of their own. The image is the same bytes on
 * every run and every runner (its id is the digest of a fixed config), so parallel jobs load
 * the same image, and it is tagged so that `docker image prune` leaves it alone.
 */
import { writeFile } from 'node:fs/promises';
import * as path from 'node:path';
import * as tarStream from 'tar-stream';
import type { Docker } from '../docker/cli.js';
import { parsePlatform } from '../registry/oci.js';
import { sha256Digest } from '../registry/client.js';

/** The config of an empty image for `platform`: fixed bytes, so a fixed id. */
export function scratchConfig(platform: string): Buffer {
  const p = parsePlatform(platform);
  const config: Record<string, unknown> = { architecture: p.architecture, os: p.os };
  if (p.variant) config.variant = p.variant;
  config.config = {};
  config.rootfs = { type: 'layers', diff_ids: [] };
  return Buffer.from(JSON.stringify(config));
}

/** The local tag that keeps the base from being pruned as dangling. */
export const scratchTag = (platform: string) => `publish-image/scratch:${platform.replace(/\//g, '-')}`;

/** A `docker load` archive (docker's legacy layout) holding only that config. */
async function scratchArchive(platform: string): Promise<Buffer> {
  const config = scratchConfig(platform);
  const hex = sha256Digest(config).slice('sha256:'.length);
  const manifest = JSON.stringify([{ Config: `${hex}.json`, RepoTags: [scratchTag(platform)], Layers: [] }]);
  const pack = tarStream.pack();
  const chunks: Buffer[] = [];
  pack.on('data', (c: unknown) => chunks.push(c as Buffer));
  const done = new Promise<void>((resolve, reject) => {
    pack.on('end', resolve);
    pack.on('error', reject);
  });
  const mtime = new Date(0);
  pack.entry({ name: `${hex}.json`, mtime }, config);
  pack.entry({ name: 'manifest.json', mtime }, manifest);
  pack.finalize();
  await done;
  return Buffer.concat(chunks);
}

/** Makes sure the daemon holds the empty image of `platform`; returns its id. */
export async function scratchBase(docker: Docker, platform: string, dir: string): Promise<string> {
  const id = sha256Digest(scratchConfig(platform));
  try {
    const { stdout } = await docker.run(['image', 'inspect', '--format', '{{json .RepoTags}}', id]);
    // Tagged again if someone removed the tag (only tagged images survive `docker image prune`).
    if (!stdout.includes(`"${scratchTag(platform)}"`)) await docker.run(['tag', id, scratchTag(platform)]);
    return id;
  } catch {
    // Not there yet (a fresh daemon, or pruned): load it.
  }
  const file = path.join(dir, `scratch-${platform.replace(/\//g, '-')}.tar`);
  await writeFile(file, await scratchArchive(platform));
  await docker.run(['load', '--quiet', '--input', file]);
  return id;
}
