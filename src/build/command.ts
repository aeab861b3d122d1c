/**
 * The `docker build` command line for each builder, and the environment it runs in. Secret
 * values never appear here: `secrets` reach docker in its environment (`--secret id=…,env=…`),
 * `secret-files` by path; the command line names only ids, variable names and paths.
 */
import type { Builder } from './builder.js';
import type { BuildInputs, BuildSecret } from './inputs.js';

export interface BuildCommandOptions extends Pick<
  BuildInputs,
  | 'context'
  | 'file'
  | 'buildArgs'
  | 'target'
  | 'pull'
  | 'noCache'
  | 'cacheFrom'
  | 'network'
  | 'secrets'
  | 'ssh'
  | 'buildContexts'
  | 'addHosts'
  | 'shmSize'
  | 'ulimits'
> {
  labels: Record<string, string>;
  /** Local tags to give the image (the refs it will be pushed as). */
  tags: string[];
  platform?: string;
  /** `--cache-to` operands (buildx with a driver that exports them). */
  cacheTo?: string[];
  /** Write BuildKit's inline cache metadata into the image (what the next job reads back). */
  inlineCache?: boolean;
}

/** A CSV field as docker's `--secret` parser reads it: quoted when it holds `,` or `"`. */
function csvField(s: string): string {
  return /[,"]/.test(s) ? `"${s.replace(/"/g, '""')}"` : s;
}

export function secretFlag(s: BuildSecret): string {
  return 'file' in s ? `id=${s.id},${csvField(`src=${s.file}`)}` : `id=${s.id},${csvField(`env=${s.env}`)}`;
}

/** The arguments after `docker`; `noCache` may differ from the input (a rebuild). */
export function buildCommand(
  o: BuildCommandOptions,
  iidFile: string,
  b: Builder,
  noCache = o.noCache,
): string[] {
  const args =
    b.kind === 'buildx'
      ? ['buildx', 'build', '--load', '--progress=plain']
      : b.kind === 'buildkit'
        ? ['build', '--progress=plain']
        : // --force-rm: the classic builder otherwise leaves the container of a failed RUN behind.
          ['build', '--force-rm'];
  args.push('--file', o.file, '--iidfile', iidFile);
  if (o.platform) args.push('--platform', o.platform);
  if (o.target) args.push('--target', o.target);
  if (o.pull) args.push('--pull');
  if (noCache) args.push('--no-cache');
  if (o.network) args.push('--network', o.network);
  for (const c of o.cacheFrom) args.push('--cache-from', c);
  for (const c of o.cacheTo ?? []) args.push('--cache-to', c);
  // buildx asks for inline cache with --cache-to; docker's own BuildKit with a build argument.
  if (o.inlineCache && b.kind === 'buildx') args.push('--cache-to', 'type=inline');
  for (const a of o.buildArgs) args.push('--build-arg', a);
  if (o.inlineCache && b.kind === 'buildkit') args.push('--build-arg', 'BUILDKIT_INLINE_CACHE=1');
  for (const s of o.secrets) args.push('--secret', secretFlag(s));
  for (const s of o.ssh) args.push('--ssh', s);
  for (const c of o.buildContexts) args.push('--build-context', c);
  for (const h of o.addHosts) args.push('--add-host', h);
  if (o.shmSize) args.push('--shm-size', o.shmSize);
  for (const u of o.ulimits) args.push('--ulimit', u);
  // BuildKit sets every label at once; the classic builder spends a container per --label,
  // so there they are added afterwards in one LABEL step (see labelImage).
  if (b.kind !== 'classic') {
    for (const [k, v] of Object.entries(o.labels)) args.push('--label', `${k}=${v}`);
    for (const t of o.tags) args.push('--tag', t);
  }
  args.push(o.context);
  return args;
}

/**
 * The variables the build adds to docker's environment, the only child that gets them: the
 * `secrets` values under our own names, the `secret-envs` variables (docker's environment holds
 * no secret otherwise), and DOCKER_BUILDKIT=1 for a CLI that runs BuildKit itself.
 */
export function buildEnv(
  b: Builder,
  o: { secretEnv: Record<string, string>; secrets: BuildSecret[] },
  env: NodeJS.ProcessEnv = process.env,
): Record<string, string> {
  const fromEnv: Record<string, string> = {};
  for (const s of o.secrets) if (s.input === 'secret-envs') fromEnv[s.env] = env[s.env] ?? '';
  return { ...fromEnv, ...o.secretEnv, ...(b.kind === 'buildkit' && { DOCKER_BUILDKIT: '1' }) };
}
