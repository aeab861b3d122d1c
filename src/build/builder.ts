/**
 * Which builder runs the build, decided once per step and said in the log: buildx when it is
 * installed (GitHub-hosted runners); else a docker CLI that runs BuildKit itself when the step
 * asks for it with DOCKER_BUILDKIT=1 (docker before 23 has BuildKit built in; from 23 on the CLI
 * reaches BuildKit only through buildx); else the classic builder.
 */
import type { Docker } from '../docker/cli.js';

export type BuilderKind = 'buildx' | 'buildkit' | 'classic';

export interface Builder {
  kind: BuilderKind;
  /** One line for the log: what builds and why that one. */
  description: string;
  /** The docker CLI's version (`20.10.24`), when it could be read. */
  cliVersion?: string;
}

/** True for BuildKit, however it is reached: labels and tags go on the build itself. */
export const isBuildKit = (b: Builder): boolean => b.kind !== 'classic';

/** `Docker version 20.10.24+dfsg1, build 297e128` → `20.10.24`. */
export function cliVersionOf(text: string): string | undefined {
  return /version\s+v?(\d+\.\d+(\.\d+)?)/i.exec(text)?.[1];
}

const major = (v: string | undefined) => (v ? Number(v.split('.')[0]) : NaN);

/** DOCKER_BUILDKIT as docker reads it: a boolean, or unset. */
function buildkitWanted(env: NodeJS.ProcessEnv): boolean | undefined {
  const v = (env.DOCKER_BUILDKIT ?? '').trim().toLowerCase();
  if (v === '') return undefined;
  return v === '1' || v === 'true';
}

/** `docker buildx version`'s line, undefined when buildx is not installed. */
const buildxVersion = (docker: Docker): Promise<string | undefined> =>
  docker
    .run(['buildx', 'version'])
    .then((r) => r.stdout.trim())
    .catch(() => undefined);

/**
 * Decides the builder from what is installed and the step's environment. Throws when the step
 * asks for BuildKit that this docker CLI cannot run (docker 23+ without buildx refuses it).
 */
export async function detectBuilder(docker: Docker, env: NodeJS.ProcessEnv = process.env): Promise<Builder> {
  const wanted = buildkitWanted(env);
  // Both asked at once: each is a process start, on the way to the first build.
  const asked = wanted === false ? undefined : buildxVersion(docker);
  const cliVersion = await docker
    .run(['--version'])
    .then((r) => cliVersionOf(r.stdout))
    .catch(() => undefined);
  const cli = `docker ${cliVersion ?? '(version unknown)'}`;
  if (wanted === false)
    return {
      kind: 'classic',
      cliVersion,
      description: `classic docker build (${cli}; DOCKER_BUILDKIT=0 asks for it)`,
    };
  const buildx = await asked;
  if (buildx) {
    const v = /\sv?(\d+\.\d+\.\d+\S*)/.exec(buildx)?.[1] ?? '';
    return {
      kind: 'buildx',
      cliVersion,
      description: `BuildKit through buildx ${v} (docker buildx build --load)`.trim(),
    };
  }
  if (wanted) {
    if (major(cliVersion) < 23)
      return {
        kind: 'buildkit',
        cliVersion,
        description: `BuildKit, run by ${cli} itself (DOCKER_BUILDKIT=1; buildx is not installed)`,
      };
    throw new Error(
      `DOCKER_BUILDKIT=1 asks for BuildKit, but ${cli} runs BuildKit only through the buildx plugin, ` +
        `which is not installed: install docker-buildx (on a runner, docker/setup-buildx-action), ` +
        `or unset DOCKER_BUILDKIT to build with the classic builder.`,
    );
  }
  return {
    kind: 'classic',
    cliVersion,
    description: `classic docker build (${cli}, no buildx; install buildx, or set DOCKER_BUILDKIT=1 with docker older than 23, for BuildKit)`,
  };
}
