/**
 * Gathers the facts of a build for its provenance while the main step runs: when the build
 * started and finished, which base images (and digests) each platform's build started from,
 * the Dockerfile's path and digest. The statement itself is built by statement.ts.
 */
import { createHash, randomBytes } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import * as path from 'node:path';
import type { Docker } from '../docker/cli.js';
import { baseImages } from '../build/dockerfile.js';
import type { Inputs } from '../inputs.js';
import { type BaseImage, type BuildFacts, githubFacts } from './predicate.js';

const ARCH: Record<string, string> = { x64: 'amd64', arm64: 'arm64', arm: 'arm', ia32: '386' };

/** The digest the daemon pulled `ref` by (its RepoDigests entry for that repository). */
export function repoDigestOf(ref: string, repoDigests: string[]): string | undefined {
  const name = ref.replace(/@.*$/, '').replace(/:[^/:]*$/, '');
  const short = (n: string) => n.replace(/^(docker\.io|index\.docker\.io)\/(library\/)?/, '');
  for (const rd of repoDigests) {
    const [repo, digest] = rd.split('@');
    if (repo && digest && short(repo) === short(name)) return digest;
  }
  return undefined;
}

/** A reference as docker normalises it: registry and `library/` for Docker Hub, `:latest`. */
function normalised(ref: string): string {
  const name = ref.replace(/@.*$/, '');
  const tagged = /:[^/:]*$/.test(name) ? name : `${name}:latest`;
  const first = tagged.split('/')[0]!;
  const hasHost = tagged.includes('/') && (/[.:]/.test(first) || first === 'localhost');
  if (hasHost) return tagged.replace(/^(index\.)?docker\.io\//, 'docker.io/');
  return `docker.io/${tagged.includes('/') ? '' : 'library/'}${tagged}`;
}

/** The digest BuildKit resolved `ref` to, from the names its log printed. */
export function resolvedDigestOf(ref: string, resolved: Map<string, string>): string | undefined {
  const pinned = /@(sha256:[0-9a-f]{64})$/.exec(ref)?.[1];
  if (pinned) return pinned;
  const want = normalised(ref);
  for (const [name, digest] of resolved) if (normalised(name) === want) return digest;
  return undefined;
}

export class ProvenanceRecorder {
  private startedOn = new Date().toISOString();
  private finishedOn = '';
  private readonly bases = new Map<string, BaseImage[]>();
  private dockerfile?: { path: string; digest: string };
  private readonly invocationId = randomBytes(12).toString('hex');

  constructor(
    private readonly docker: Docker,
    private readonly inputs: Inputs,
    private readonly labels: Record<string, string>,
    private readonly env: Record<string, string | undefined>,
  ) {}

  /** Before the first build. */
  async started(): Promise<void> {
    this.startedOn = new Date().toISOString();
    if (this.inputs.source || this.inputs.mergeDigests.length) return;
    const bytes = await readFile(this.inputs.file);
    const digest = `sha256:${createHash('sha256').update(bytes).digest('hex')}`;
    this.dockerfile = { path: this.relative(this.inputs.file), digest };
  }

  /**
   * Right after one platform's build: BuildKit said the digest of each base it resolved (its
   * log); the classic builder left that platform's bases tagged in the daemon instead.
   */
  async built(platform: string, resolved: Map<string, string> = new Map()): Promise<void> {
    this.finishedOn = new Date().toISOString();
    if (!this.dockerfile) return;
    const text = await readFile(this.inputs.file, 'utf8');
    const found: BaseImage[] = [];
    for (const ref of baseImages(text, this.inputs.buildArgs)) {
      const kit = resolvedDigestOf(ref, resolved);
      if (kit) {
        found.push({ ref, digest: kit });
        continue;
      }
      let digests: string[] = [];
      try {
        const { stdout } = await this.docker.run([
          'image',
          'inspect',
          '--format',
          '{{json .RepoDigests}}',
          ref,
        ]);
        digests = (JSON.parse(stdout.trim()) as string[] | null) ?? [];
      } catch {
        // A base the daemon does not hold by that name (a later stage's ARG): no digest to give.
      }
      found.push({ ref, digest: repoDigestOf(ref, digests) });
    }
    this.bases.set(platform, found);
  }

  /** The facts for the image of one platform (`os/arch`); any platform's when only one was built. */
  factsFor(platform: string): BuildFacts {
    const i = this.inputs;
    const bases = this.bases.get(platform) ?? this.bases.get('') ?? [...this.bases.values()][0] ?? [];
    return {
      github: githubFacts(this.env),
      dockerfile: this.dockerfile,
      context: this.dockerfile ? this.relative(i.context) : undefined,
      target: i.target || undefined,
      buildArgs: i.buildArgs,
      labels: this.labels,
      bases,
      builderPlatform: `${process.platform}/${ARCH[process.arch] ?? process.arch}`,
      settings: {
        platforms: i.platforms,
        pull: i.pull,
        noCache: i.noCache,
        network: i.network || undefined,
        cacheFrom: i.cacheFrom,
        source: i.source || undefined,
      },
      invocationId: this.invocationId,
      startedOn: this.startedOn,
      finishedOn: this.finishedOn || new Date().toISOString(),
    };
  }

  /** A path as the repository knows it (relative to the workspace) when it lies inside. */
  private relative(p: string): string {
    const ws = this.env.GITHUB_WORKSPACE;
    const abs = path.resolve(ws ?? '.', p);
    const rel = ws ? path.relative(ws, abs) : p;
    return rel && !rel.startsWith('..') && !path.isAbsolute(rel) ? rel : p;
  }
}
