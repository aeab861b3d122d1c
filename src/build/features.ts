/**
 * What a build needs of its builder, checked before it starts: Dockerfile syntax only BuildKit
 * reads (the classic builder stops on it with a parse error that does not say why), and inputs
 * that only some builders take. A build that cannot work fails here, in one line that names
 * the Dockerfile line or the input and says what would build it.
 */
import { readFileSync } from 'node:fs';
import type { Builder } from './builder.js';
import type { BuildInputs } from './inputs.js';
import { instructions } from './dockerfile.js';

/** A Dockerfile line that needs BuildKit, and what on it does. */
export interface KitLine {
  /** 1-based line number. */
  line: number;
  what: string;
}

const FLAGS: Record<string, RegExp> = {
  'RUN --mount': /(^|\s)--mount[=\s]/,
  'RUN --network': /(^|\s)--network[=\s]/,
  'RUN --security': /(^|\s)--security[=\s]/,
};
const COPY_FLAGS: Record<string, RegExp> = {
  '--link': /(^|\s)--link(\s|=|$)/,
  '--chmod': /(^|\s)--chmod[=\s]/,
  '--parents': /(^|\s)--parents(\s|=|$)/,
  '--exclude': /(^|\s)--exclude[=\s]/,
  '--checksum': /(^|\s)--checksum[=\s]/,
  '--keep-git-dir': /(^|\s)--keep-git-dir(\s|=|$)/,
};
const HEREDOC = /<<-?\s*["']?[A-Za-z_][A-Za-z0-9_]*["']?/;

/** The first Dockerfile line that only BuildKit reads, if any. */
export function buildKitLine(text: string): KitLine | undefined {
  const lines = text.split(/\r?\n/);
  // A `# syntax=` parser directive names a frontend image: only BuildKit runs one.
  for (const [i, l] of lines.entries()) {
    const m = /^#\s*([a-z]+)\s*=/i.exec(l);
    if (!m) break;
    if (m[1]!.toLowerCase() === 'syntax') return { line: i + 1, what: 'a # syntax= directive' };
  }
  for (const ins of instructions(text)) {
    const head = ins.args.replace(/^((--\S+)\s+)*/, '');
    if (ins.keyword === 'RUN') {
      for (const [what, re] of Object.entries(FLAGS))
        if (re.test(leadingFlags(ins.args))) return at(ins, what);
      if (HEREDOC.test(head)) return at(ins, 'a heredoc (RUN <<EOF)');
    }
    if (ins.keyword === 'COPY' || ins.keyword === 'ADD') {
      for (const [what, re] of Object.entries(COPY_FLAGS))
        if (re.test(leadingFlags(ins.args))) return at(ins, `${ins.keyword} ${what}`);
      if (HEREDOC.test(head)) return at(ins, `a heredoc (${ins.keyword} <<EOF)`);
    }
  }
  return undefined;
}

/** The `--flag` words an instruction starts with. */
function leadingFlags(args: string): string {
  return /^((--\S+(\s+|$))*)/.exec(args)?.[1] ?? '';
}

const at = (ins: { line: number }, what: string): KitLine => ({ line: ins.line + 1, what });

/** What each builder cannot do with an input given, or undefined when it can. */
function inputRefusal(b: Builder, o: BuildInputs): string | undefined {
  const kit = b.kind !== 'classic';
  const needKit = o.secrets[0]?.input ?? (o.ssh.length ? 'ssh' : undefined);
  if (needKit && !kit) return `Input "${needKit}" needs BuildKit, ${CLASSIC(b)}`;
  if (o.buildContexts.length && b.kind !== 'buildx')
    return (
      `Input "build-contexts" needs buildx (docker buildx build --build-context); this step builds with ` +
      `${b.description}. Install docker-buildx (on a runner, docker/setup-buildx-action).`
    );
  if (b.kind === 'buildkit') {
    const ignored = o.shmSize ? 'shm-size' : o.ulimits.length ? 'ulimit' : undefined;
    if (ignored)
      return (
        `Input "${ignored}" cannot be honoured by ${b.description}: the docker CLI's own BuildKit ` +
        `does not pass it to RUN steps. Build with buildx, or with the classic builder (unset DOCKER_BUILDKIT).`
      );
  }
  return undefined;
}

const CLASSIC = (b: Builder) =>
  `and this step builds with the ${b.description.replace(/^classic docker build/, 'classic builder')}. ` +
  `Install docker-buildx (on a runner, docker/setup-buildx-action), or set DOCKER_BUILDKIT=1 with a docker CLI older than 23.`;

/** Throws the one-line reason when the builder cannot build this Dockerfile with these inputs. */
export function assertBuilderCan(b: Builder, o: BuildInputs): void {
  const refusal = inputRefusal(b, o);
  if (refusal) throw new Error(refusal);
  if (b.kind !== 'classic') return;
  let text: string;
  try {
    text = readFileSync(o.file, 'utf8');
  } catch {
    return; // the build itself says what is wrong with the file
  }
  const kit = buildKitLine(text);
  if (kit)
    throw new Error(`${o.file} line ${kit.line} uses ${kit.what}, which needs BuildKit, ${CLASSIC(b)}`);
}
