/**
 * Reads a `docker build` log as it streams (classic builder or buildx) and, when the build
 * fails, says why in its first line: the Dockerfile step and the exit code of a failed RUN, or
 * the base image, its registry and what to do when it cannot be pulled. docker's own noise (the
 * legacy builder's deprecation banner, colour codes, container bookkeeping) never leads.
 */
import { parseImageName } from '../registry/reference.js';

/** The classic builder's banner on every build without buildx: never a cause. */
const BANNER = [
  /^DEPRECATED: The legacy builder is deprecated/,
  /^\s*Install the buildx component/,
  /^\s*https:\/\/docs\.docker\.com\/go\/buildx\/?\s*$/,
];
/** Progress and bookkeeping lines: shown in the build group, never quoted as a cause. */
const CHATTER = [
  /^Sending build context to Docker daemon/,
  /^\s*---> /,
  /^Removing intermediate container/,
  /^Successfully (built|tagged)/,
  /^#\d+ (\[.*\] )?(DONE|CACHED|sha256:|resolve |transferring|extracting|writing|naming|exporting)/,
  /^#\d+ \d+(\.\d+)?s? ?(done|sha256:)/,
];
// eslint-disable-next-line no-control-regex
const ANSI = /\x1b\[[0-9;]*[A-Za-z]/g;

export const stripAnsi = (s: string): string => s.replace(ANSI, '');

/** A line of the deprecation banner, which is left out of the log as well. */
export function isBanner(line: string): boolean {
  return BANNER.some((re) => re.test(stripAnsi(line)));
}

/** One Dockerfile instruction as the builder announced it. */
export interface BuildStep {
  /** `3/4` (classic: step of all steps; buildx: instruction of its stage). */
  position: string;
  instruction: string;
}

/** Classic: `Step 3/4 : RUN make`. buildx: `#7 [2/3] RUN make` or `#7 [build 2/3] RUN make`. */
function stepOf(line: string): BuildStep | undefined {
  const classic = /^Step (\d+\/\d+) : (.+)$/.exec(line);
  if (classic) return { position: classic[1]!, instruction: classic[2]!.trim() };
  const kit = /^(?:#\d+ | > )\[(?:[\w.-]+ )?(\d+\/\d+)\] (.+?):?$/.exec(line);
  if (kit) return { position: kit[1]!, instruction: kit[2]!.trim() };
  return undefined;
}

/** A registry login the step has: its user names the login in messages. */
export interface LoginName {
  registry: string;
  username: string;
}

/** What a failed build comes down to. */
export class BuildFailure extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'BuildFailure';
  }
}

const KEEP_LINES = 40;

export class BuildLog {
  private step?: BuildStep;
  /** buildx runs steps side by side: each vertex (`#7`) and its step, to find the failing one. */
  private readonly vertices = new Map<string, BuildStep>();
  /** The last lines the current (or failing) step printed, chatter left out. */
  private stepOutput: string[] = [];
  /** buildx repeats a failed step's output in a box after the error: not new output. */
  private inSummary = false;
  /** The last lines of all that are not chatter: where docker's own error is. */
  private tail: string[] = [];
  /** Every FROM image the builder announced, for a pull error that names none. */
  private readonly bases: string[] = [];
  /** The RUN, COPY and ADD steps announced, and those the builder took from its cache. */
  private readonly work = new Set<string>();
  private readonly cached = new Set<string>();

  /** How many RUN/COPY/ADD steps the build had, and how many came from the cache. */
  cacheStats(): { steps: number; cached: number } {
    return { steps: this.work.size, cached: [...this.cached].filter((k) => this.work.has(k)).length };
  }

  private countStep(step: BuildStep | undefined, cached: boolean): void {
    if (!step || !/^(RUN|COPY|ADD)\s/i.test(step.instruction)) return;
    const key = `${step.position} ${step.instruction}`;
    this.work.add(key);
    if (cached) this.cached.add(key);
  }

  /**
   * The digest BuildKit resolved each FROM image to (`FROM name:tag@sha256:…` in its log), by
   * the name it printed; the classic builder prints none (the daemon's RepoDigests say it).
   */
  resolvedBases(): Map<string, string> {
    const out = new Map<string, string>();
    for (const b of this.bases) {
      const m = /^(.+)@(sha256:[0-9a-f]{64})$/.exec(b);
      if (m) out.set(m[1]!, m[2]!);
    }
    return out;
  }

  /** Takes one line of the log; returns it for the build group, or undefined for the banner. */
  line(raw: string): string | undefined {
    if (isBanner(raw)) return undefined;
    const line = stripAnsi(raw).replace(/\s+$/, '');
    if (!line.trim()) return undefined;
    const vertex = /^(#\d+) /.exec(line)?.[1];
    const step = /^ > /.test(line) ? undefined : stepOf(line);
    if (step) {
      this.enter(step);
      this.countStep(step, false);
      if (vertex) this.vertices.set(vertex, step);
      const from = /^FROM\s+(?:--platform=\S+\s+)?(\S+)/i.exec(step.instruction);
      if (from) this.bases.push(from[1]!);
      return raw;
    }
    // Classic: ` ---> Using cache` under the step; BuildKit: `#7 CACHED` for the step's vertex.
    if (/^\s*---> Using cache/.test(line)) this.countStep(this.step, true);
    if (vertex && /^#\d+ CACHED/.test(line)) this.countStep(this.vertices.get(vertex), true);
    if (CHATTER.some((re) => re.test(line))) return raw;
    push(this.tail, line);
    if (vertex && /^#\d+ ERROR/.test(line) && this.vertices.has(vertex))
      this.step = this.vertices.get(vertex);
    if (/^-{6}$/.test(line)) this.inSummary = true;
    else if (!this.inSummary && !/^(The command '|ERROR|#\d+ ERROR)/.test(line))
      push(this.stepOutput, line.replace(/^#\d+ \d+\.\d+ /, ''));
    return raw;
  }

  private enter(step: BuildStep): void {
    this.step = step;
    this.stepOutput = [];
    this.inSummary = false;
  }

  /** The error for a build that exited with `exitCode`; `said` is its stderr, if no line came. */
  failure(exitCode: number | null, said: string, logins: LoginName[]): BuildFailure {
    if (this.tail.length === 0) for (const l of said.split('\n')) this.line(l);
    const text = this.tail.join('\n');
    const where = this.step
      ? `Dockerfile step ${this.step.position} (${this.step.instruction})`
      : 'docker build';
    const run =
      /The command '(.*)' returned a non-zero code: (\d+)/.exec(text) ??
      /process "(.*)" did not complete successfully: exit code: (\d+)/.exec(text) ??
      // The BuildKit of docker 20.10 (DOCKER_BUILDKIT=1 without buildx) says it this way.
      /executor failed running \[(.*)\]: exit code: (\d+)/.exec(text);
    if (run) {
      const printed = this.stepOutput.slice(-5);
      return new BuildFailure(
        `${where} failed with exit code ${run[2]}.` +
          (printed.length ? ` Its last output:\n  ${printed.join('\n  ')}` : ' It printed nothing.'),
      );
    }
    const pull = pullFailure(text, this.step, this.bases);
    if (pull) return new BuildFailure(explainPull(pull, where, logins));
    // buildx ends with one `ERROR: failed to solve: <cause>`, docker 20.10's BuildKit with
    // `failed to solve with frontend dockerfile.v0: <cause>`; the classic builder's cause is last.
    const final = [...this.tail].reverse().find((l) => /^ERROR: |^failed to solve with frontend/.test(l));
    const cause = final
      ? [
          final
            .replace(/^ERROR:\s*(failed to solve:\s*)?/, '')
            .replace(/^failed to solve with frontend [\w.]+:\s*(failed to create LLB definition:\s*)?/, ''),
        ]
      : this.tail.filter((l) => !/^-+$|^\s*\d+ \||^Dockerfile:\d+$|^ > /.test(l)).slice(-2);
    // docker 20.10's BuildKit, on a cache record whose layers were removed from the daemon since
    // (`docker rmi`, an image prune): the cause is in the daemon, and one command clears it.
    const stale = /extract requires an applier/.test(text)
      ? " This is docker 20.10's BuildKit holding a build cache record whose layers were removed from the daemon since; `docker builder prune` clears it."
      : '';
    return new BuildFailure(
      `${where} failed (docker build exit ${exitCode}): ${cause.join(' ') || 'docker said nothing more'}${stale}`,
    );
  }
}

function push(lines: string[], line: string): void {
  lines.push(line);
  if (lines.length > KEEP_LINES) lines.shift();
}

type PullKind = 'credentials' | 'not found' | 'rate limit' | 'unreachable';

interface PullFailure {
  image: string;
  registry: string;
  kind: PullKind;
  /** docker's own words, one line. */
  said: string;
}

const PULL_CAUSE =
  /no basic auth credentials|pull access denied|unauthorized|authentication required|insufficient_scope|failed to authorize|denied|toomanyrequests|rate limit|manifest unknown|not found|does not exist|dial tcp|no such host|connection refused|i\/o timeout/i;

/** Which image could not be pulled, from docker's words, else from the FROM line that failed. */
function imageOf(text: string, step: BuildStep | undefined, bases: string[]): string | undefined {
  const named =
    /pull access denied for ([^\s,]+)/.exec(text)?.[1] ??
    /failed to resolve source metadata for (\S+)/.exec(text)?.[1] ??
    /load metadata for (\S+)/.exec(text)?.[1] ??
    /manifest for (\S+) not found/.exec(text)?.[1];
  const from = step && /^FROM\s+(?:--platform=\S+\s+)?(\S+)/i.exec(step.instruction)?.[1];
  if (named) {
    const name = named.replace(/:$/, '');
    // "pull access denied for <repository>" leaves out the tag the FROM line asked for.
    return from && (from.startsWith(`${name}:`) || from.startsWith(`${name}@`)) ? from : name;
  }
  const url = /https?:\/\/([^/\s"]+)\/v2\/(.+?)\/manifests\/([^"\s]+)/.exec(text);
  if (url) {
    const host = url[1] === 'registry-1.docker.io' ? 'docker.io' : url[1];
    const ref = url[3]!.startsWith('sha256:') ? `@${url[3]}` : `:${url[3]}`;
    return `${host}/${url[2]}${ref}`;
  }
  return from ?? bases[bases.length - 1];
}

function pullFailure(text: string, step: BuildStep | undefined, bases: string[]): PullFailure | undefined {
  const atFrom = step !== undefined && /^FROM\s/i.test(step.instruction);
  // buildx names the image in its final error; the classic builder fails at the FROM step, or
  // says "pull access denied" / "manifest for ... not found", or quotes the manifest URL.
  // docker 20.10's BuildKit: "pulling from host <registry> failed with status code [...]: 401".
  const pulling =
    /failed to resolve source metadata|pull access denied|manifest for \S+ not found|\/v2\/.+\/manifests\/|pulling from host \S+ failed/.test(
      text,
    );
  if (!(atFrom || pulling) || !PULL_CAUSE.test(text)) return undefined;
  const image = imageOf(text, step, bases);
  if (!image || /^\$/.test(image)) return undefined;
  let registry = 'docker.io';
  try {
    registry = parseImageName(image).registry;
  } catch {
    // an image name docker printed oddly: Docker Hub is its default
  }
  const said =
    text
      .split('\n')
      .reverse()
      .find((l) => PULL_CAUSE.test(l)) ?? '';
  const kind: PullKind = /toomanyrequests|rate limit|\b429\b/i.test(said)
    ? 'rate limit'
    : /dial tcp|no such host|connection refused|i\/o timeout/i.test(said)
      ? 'unreachable'
      : /manifest unknown|: not found|manifest for \S+ not found/i.test(said) &&
          !/denied|unauthori/i.test(said)
        ? 'not found'
        : 'credentials';
  return { image, registry, kind, said: said.replace(/^(#\d+ )?ERROR:\s*/, '').trim() };
}

function explainPull(p: PullFailure, where: string, logins: LoginName[]): string {
  const hub = p.registry === 'docker.io';
  const login = logins.find((l) => l.registry === p.registry);
  const addLogin = `add a login for ${p.registry} to registry-auth (or username/password with registry: ${p.registry})`;
  const hubLimit = hub
    ? ' Docker Hub also limits anonymous pulls: a Docker Hub login (docker.io in registry-auth) lifts that limit.'
    : '';
  let why: string;
  let todo: string;
  switch (p.kind) {
    case 'rate limit':
      why = `${p.registry} refused it: the pull rate limit was reached`;
      todo = hub
        ? `Log in to Docker Hub (docker.io in registry-auth) to lift the anonymous pull rate limit, or retry later.`
        : `Retry later, or log in to ${p.registry} if that raises its limit.`;
      break;
    case 'unreachable':
      why = `${p.registry} could not be reached`;
      todo = `Check the registry's host name in the FROM line and that the runner can reach it.`;
      break;
    case 'not found':
      why = `${p.registry} has no such image`;
      todo = `Check the image name and tag in the FROM line and that the repository exists; if it is private, ${addLogin}.${hubLimit}`;
      break;
    default:
      why = login
        ? `${p.registry} refused the login of this step (${login.username}) for it`
        : `${p.registry} wants credentials for it, and this step has no login for ${p.registry}`;
      todo = login
        ? `Check that ${login.username} may pull this repository, and the image name and that the repository exists.${hubLimit}`
        : `If the image is private, ${addLogin}; check the image name and that the repository exists.${hubLimit}`;
  }
  return `The base image ${p.image} could not be pulled from ${p.registry} (${where}): ${why}. ${todo} docker said: ${p.said}`;
}
