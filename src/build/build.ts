import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import * as os from 'node:os';
import * as path from 'node:path';
import { BuildLog, type LoginName } from './buildlog.js';
import { type Docker, DockerError } from '../docker/cli.js';
import { type Builder, isBuildKit } from './builder.js';
import { type BuildCommandOptions, buildCommand, buildEnv } from './command.js';
import { ClassicStages } from './stagelog.js';
import type { Logger } from '../log.js';
import { type Platform, parsePlatform, platformString } from '../registry/oci.js';
import { isScratch, parseStages, replaceScratch } from './dockerfile.js';
import { labelImage } from './labels.js';
import { scratchBase } from './scratch.js';

export interface BuildOptions extends BuildCommandOptions {
  /** The step's registry logins: a base image that cannot be pulled is explained with them. */
  logins?: LoginName[];
  /** The `secrets` input's values, for docker's environment (see command.ts). */
  secretEnv: Record<string, string>;
}

/** Builds one image and returns its id (sha256:...). */
export interface Built {
  /** The image id (sha256:…). */
  id: string;
  /** FROM images BuildKit resolved, by the name it printed, to the digest it pulled. */
  resolvedBases: Map<string, string>;
  /** RUN/COPY/ADD steps of the (last) build, and how many came from the cache. */
  stats: { steps: number; cached: number };
  /** The classic builder's stages: each one's image, from its log (undefined with BuildKit). */
  stages?: ClassicStages;
}

/** Builds one image. */
export async function build(docker: Docker, o: BuildOptions, builder: Builder, log: Logger): Promise<Built> {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'publish-image-build-'));
  const kit = isBuildKit(builder);
  try {
    const iid = path.join(dir, 'iid');
    // BuildKit gives `FROM scratch` the platform asked for; the classic builder needs help.
    o = kit ? o : await platformDockerfile(docker, o, dir, log);
    let resolvedBases = new Map<string, string>();
    let stats = { steps: 0, cached: 0 };
    let stages: ClassicStages | undefined;
    const run = async (noCache: boolean) => {
      // Reads the log as it streams: the classic builder's deprecation banner is left out, and
      // a failure is told by its cause (the step and its exit code, the image not pulled).
      const buildLog = new BuildLog();
      const stageLog = kit ? undefined : new ClassicStages();
      try {
        const args = buildCommand(o, iid, builder, noCache);
        await docker.run(args, {
          env: buildEnv(builder, o),
          onLine: (line) => {
            stageLog?.line(line);
            const shown = buildLog.line(line);
            if (shown !== undefined) log.info(shown);
          },
        });
      } catch (err) {
        if (err instanceof DockerError) throw buildLog.failure(err.exitCode, err.stderr, o.logins ?? []);
        throw err;
      }
      resolvedBases = buildLog.resolvedBases();
      stats = buildLog.cacheStats();
      stages = stageLog;
    };
    await run(o.noCache);
    let id = (await readFile(iid, 'utf8')).trim();
    if (!kit) id = await labelImage(docker, id, o.labels, o.tags, dir, o.platform);
    if (o.platform) {
      const want = parsePlatform(o.platform);
      let got = await imagePlatform(docker, id);
      if (!samePlatform(want, got)) {
        // The classic builder's cache ignores --platform and can hand back another
        // platform's image; a build without the cache cannot.
        log.info(`Cache returned a ${platformString(got)} image for ${o.platform}; rebuilding without cache`);
        await run(true);
        id = (await readFile(iid, 'utf8')).trim();
        if (!kit) id = await labelImage(docker, id, o.labels, o.tags, dir, o.platform);
        got = await imagePlatform(docker, id);
        if (!samePlatform(want, got))
          throw new Error(
            `Building for ${o.platform} produced a ${platformString(got)} image; refusing to push it.`,
          );
      }
    }
    return { id, resolvedBases, stats, stages };
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

/**
 * For the classic builder and a given platform: the Dockerfile with each `FROM scratch`
 * starting from an empty image of that platform (see scratch.ts for why). `--pull` would then
 * try to pull that local image, so the other base images are pulled here instead.
 */
async function platformDockerfile(
  docker: Docker,
  o: BuildOptions,
  dir: string,
  log: Logger,
): Promise<BuildOptions> {
  if (!o.platform) return o;
  const text = await readFile(o.file, 'utf8');
  const stages = parseStages(text, o.buildArgs);
  if (!o.pull) await pullOtherPlatformBases(docker, stages, o.platform, log);
  const wanted = new Set(
    stages
      .filter(isScratch)
      .map((s) => (s.platformFlag?.includes('$') ? '' : (s.platformFlag ?? o.platform!))),
  );
  wanted.delete('');
  if (wanted.size === 0) return o;
  const ids = new Map<string, string>();
  for (const p of wanted) ids.set(p, await scratchBase(docker, p, dir));
  const rewritten = replaceScratch(text, o.platform, (p) => ids.get(p)!, o.buildArgs);
  if (rewritten === undefined) return o;
  const file = path.join(dir, 'Dockerfile');
  await writeFile(file, rewritten);
  log.info(
    `FROM scratch starts from an empty ${[...wanted].join(', ')} image (the classic builder's scratch has no platform)`,
  );
  if (o.pull) {
    const pulls = new Set(
      stages
        .filter((s) => !isScratch(s) && !s.fromStage && s.image)
        .map(
          (s) =>
            `${s.platformFlag && !s.platformFlag.includes('$') ? s.platformFlag : o.platform} ${s.image}`,
        ),
    );
    for (const p of pulls) await docker.run(['pull', '--platform', ...p.split(' ')]);
  }
  return { ...o, file, pull: false };
}

/**
 * The classic builder takes a base image the daemon holds under that name as it is, whatever
 * its platform: after an amd64 build FROM a multi-platform base, an arm64 build would start
 * from the amd64 image. Such a base is pulled for the wanted platform first; one the daemon
 * does not hold is pulled by the build itself, for the platform asked.
 */
async function pullOtherPlatformBases(
  docker: Docker,
  stages: ReturnType<typeof parseStages>,
  platform: string,
  log: Logger,
): Promise<void> {
  const pulls = new Map<string, { want: string; image: string }>();
  for (const s of stages) {
    if (isScratch(s) || s.fromStage || !s.image || s.platformFlag?.includes('$')) continue;
    const want = s.platformFlag ?? platform;
    pulls.set(`${want} ${s.image}`, { want, image: s.image });
  }
  for (const { want, image } of pulls.values()) {
    const held = await imagePlatform(docker, image).catch(() => undefined);
    if (!held || samePlatform(parsePlatform(want), held)) continue;
    log.info(`The daemon holds ${image} for ${platformString(held)}; pulling it for ${want}`);
    await docker.run(['pull', '--platform', want, image]);
  }
}

export async function imagePlatform(docker: Docker, ref: string): Promise<Platform> {
  const { stdout } = await docker.run([
    'image',
    'inspect',
    '--format',
    '{{.Os}}/{{.Architecture}}/{{.Variant}}',
    ref,
  ]);
  return parsePlatform(stdout.trim().replace(/\/$/, ''));
}

export function samePlatform(a: Platform, b: Platform): boolean {
  // arm64 images usually carry variant v8 or none; both mean the same machine.
  const v = (p: Platform) =>
    p.architecture === 'arm64' && p.variant === 'v8' ? undefined : p.variant || undefined;
  return a.os === b.os && a.architecture === b.architecture && v(a) === v(b);
}

/** The image's size in bytes (about what `docker save` exports), for progress; undefined if unknown. */
export async function imageSize(docker: Docker, ref: string): Promise<number | undefined> {
  try {
    const n = Number(((await docker.inspect(ref)) as { Size?: number }).Size);
    return Number.isFinite(n) && n > 0 ? n : undefined;
  } catch {
    return undefined;
  }
}
