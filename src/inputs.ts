import * as core from '@actions/core';
import { parse as parseYaml } from 'yaml';
import { type BuildInputs, credentialBuildArgs, readBuildInputs } from './build/inputs.js';
import { InputError, messageOf } from './errors.js';
import { bool, listOf } from './inputlist.js';
import { parseImageName } from './registry/reference.js';
import type { MetaInputs } from './meta/index.js';
import { parseProvenance, type ProvenanceOptions } from './provenance/predicate.js';
import { maskCredential, maskSecret } from './secrets.js';

export interface RegistryLogin {
  registry: string;
  username: string;
  password: string;
}

export type PushMode = 'true' | 'false' | 'auto';

/** Every input, validated; the metadata ones exactly as the tag engine reads them. */
export interface Inputs extends MetaInputs, BuildInputs {
  /** Registries to log in to; empty means "use whatever docker is logged in to". */
  logins: RegistryLogin[];
  source: string;
  /** The base image to reuse layers from (else the Dockerfile's last FROM); '' when none. */
  base: string;
  push: PushMode;
  pushByDigest: boolean;
  mergeDigests: string[];
  dryRun: boolean;
  logout: boolean;
  latestForwardOnly: boolean;
  retryAttempts: number;
  retryTimeoutSeconds: number;
  /** SLSA provenance to attach (BuildKit's `provenance` values); undefined when off. */
  provenance?: ProvenanceOptions;
  /** Sign a SLSA build provenance attestation for every pushed subject with Sigstore (issue 22). */
  attest: boolean;
  /** Remove a closed pull request's preview tags (pull request life cycle, issue 12). */
  cleanup: boolean;
  prComment: boolean;
  allowUntrustedBuild: boolean;
  /** For the GitHub API; masked. */
  githubToken: string;
}

/** What the event means for the inputs: a closing pull request builds nothing. */
export interface InputsContext {
  closing?: boolean;
}

function positiveInt(name: string, fallback: number): number {
  const raw = core.getInput(name).trim();
  if (raw === '') return fallback;
  if (!/^\d+$/.test(raw) || Number(raw) < 1)
    throw new InputError(name, raw, 'must be a whole number of at least 1');
  return Number(raw);
}

const REGISTRY_HOST = /^[a-z0-9]([a-z0-9.-]*[a-z0-9])?(:\d{1,5})?$|^\[[0-9a-f:]+\](:\d{1,5})?$/i;

function registryName(input: string, raw: string): string {
  // Accept what people paste into docker login: scheme and trailing path are noise.
  const host = raw
    .trim()
    .replace(/^https?:\/\//, '')
    .replace(/\/v[12]\/?$/, '')
    .replace(/\/$/, '');
  if (!REGISTRY_HOST.test(host))
    throw new InputError(input, raw, 'is not a registry host name (like ghcr.io)');
  return host === 'index.docker.io' || host === 'registry-1.docker.io' ? 'docker.io' : host.toLowerCase();
}

function readLogins(secretsMayBeMissing: boolean): RegistryLogin[] {
  const registryAuth = core.getInput('registry-auth');
  const username = core.getInput('username').trim();
  const password = core.getInput('password');
  // Mask before anything else can print it, including the errors below.
  if (password) maskCredential(username, password);
  if (registryAuth.trim()) {
    if (username || password)
      throw new InputError(
        'registry-auth',
        '(set)',
        'cannot be used together with username/password: put every registry in registry-auth',
      );
    return readRegistryAuth(registryAuth, secretsMayBeMissing);
  }
  // Fork and Dependabot pull requests get empty secrets: not an error when we will not push.
  if (username && !password && secretsMayBeMissing) return [];
  if (password && !username)
    throw new InputError(
      'username',
      '',
      'is required when password is set (the registry user for the token)',
    );
  if (username && !password)
    throw new InputError(
      'password',
      '',
      `is required when username is set (a token for ${username}); on pull requests from forks secrets are empty, use push: auto`,
    );
  if (!username) return [];
  return [
    { registry: registryName('registry', core.getInput('registry') || 'docker.io'), username, password },
  ];
}

function readRegistryAuth(text: string, secretsMayBeMissing: boolean): RegistryLogin[] {
  // Mask every password-looking value before parsing, so a YAML error cannot echo a token.
  for (const m of text.matchAll(/password\s*:\s*["']?([^"'\n]+)/g)) maskSecret(m[1].trim());
  let doc: unknown;
  try {
    doc = parseYaml(text);
  } catch (e) {
    const where =
      e instanceof Error && 'linePos' in e
        ? ` near ${JSON.stringify((e as { linePos: unknown }).linePos)}`
        : '';
    throw new InputError('registry-auth', '(YAML)', `is not valid YAML${where}`);
  }
  if (!Array.isArray(doc) || doc.length === 0)
    throw new InputError('registry-auth', '(YAML)', 'must be a YAML list of {registry, username, password}');
  const seen = new Set<string>();
  const logins = doc.map((entry, i) => {
    const e = (entry ?? {}) as Record<string, unknown>;
    const field = (k: string) => (typeof e[k] === 'string' || typeof e[k] === 'number' ? String(e[k]) : '');
    const username = field('username').trim();
    const password = field('password');
    if (password) maskCredential(username, password);
    if (!username || (!password && !secretsMayBeMissing))
      throw new InputError('registry-auth', `entry ${i + 1}`, 'needs username and password in every entry');
    const registry = registryName('registry-auth', field('registry') || 'docker.io');
    if (seen.has(registry)) throw new InputError('registry-auth', registry, 'names the same registry twice');
    seen.add(registry);
    return { registry, username, password };
  });
  return logins.filter((l) => l.password);
}

const DIGEST = /^sha256:[a-f0-9]{64}$/;

/**
 * Reads and validates every input, masking tokens as they are read. `noSecrets` is set on
 * events where GitHub withholds secrets (fork pull requests), where empty tokens are expected.
 */
export function getInputs(noSecrets = false, when: InputsContext = {}): Inputs {
  const githubToken = core.getInput('github-token');
  maskSecret(githubToken);
  const push = (core.getInput('push').trim() || 'auto').toLowerCase();
  if (push !== 'true' && push !== 'false' && push !== 'auto')
    throw new InputError('push', core.getInput('push'), 'must be true, false or auto');
  const logins = readLogins(noSecrets && push !== 'true');
  const dryRun = bool('dry-run', false);
  const images = core.getInput('images');
  if (!dryRun && listOf(images).length === 0)
    throw new InputError('images', images, 'needs at least one image name, like ghcr.io/acme/api');
  const what = readWhatToPush();
  const builds = !dryRun && !what.source && what.mergeDigests.length === 0 && !when.closing;
  const build = readBuildInputs(builds);
  const provenance = readProvenance();
  if (builds) warnCredentialBuildArgs(build, logins, githubToken);
  const sep = (name: string) => {
    const v = core.getInput(name, { trimWhitespace: false });
    return v === '' ? '\n' : v;
  };
  return {
    images,
    tags: core.getInput('tags'),
    flavor: core.getInput('flavor'),
    labels: core.getInput('labels'),
    annotations: core.getInput('annotations'),
    sepTags: sep('sep-tags'),
    sepLabels: sep('sep-labels'),
    sepAnnotations: sep('sep-annotations'),
    logins,
    ...build,
    ...what,
    push: push as PushMode,
    dryRun,
    logout: bool('logout', true),
    latestForwardOnly: bool('latest-forward-only', true),
    retryAttempts: positiveInt('retry-attempts', 5),
    retryTimeoutSeconds: positiveInt('retry-timeout', 90),
    provenance,
    attest: bool('attest', false),
    cleanup: bool('cleanup', true),
    prComment: bool('pr-comment', false),
    allowUntrustedBuild: bool('allow-untrusted-build', false),
    githubToken,
  };
}

/** Where the image comes from when it is not built here: a local image, pushed legs to merge. */
function readWhatToPush(): Pick<Inputs, 'source' | 'base' | 'mergeDigests' | 'pushByDigest'> {
  const source = core.getInput('source').trim();
  const base = core.getInput('base').trim();
  if (base) {
    try {
      parseImageName(base);
    } catch (err) {
      throw new InputError('base', base, messageOf(err));
    }
  }
  const mergeDigests = listOf(core.getInput('merge-digests'));
  for (const d of mergeDigests)
    if (!DIGEST.test(d))
      throw new InputError('merge-digests', d, 'each line must be a digest like sha256:<64 hex>');
  const pushByDigest = bool('push-by-digest', false);
  if (pushByDigest && mergeDigests.length)
    throw new InputError('push-by-digest', 'true', 'cannot be combined with merge-digests');
  return { source, base, mergeDigests, pushByDigest };
}

/** A warning for each build argument that should have been a build secret. */
function warnCredentialBuildArgs(build: BuildInputs, logins: RegistryLogin[], githubToken: string): void {
  const secrets = [
    ...logins.map((l) => l.password),
    githubToken,
    ...Object.values(build.secretEnv),
    ...build.secrets.flatMap((s) => (s.input === 'secret-envs' ? [process.env[s.env] ?? ''] : [])),
  ];
  for (const w of credentialBuildArgs(build.buildArgs, secrets)) core.warning(w);
}

function readProvenance(): ProvenanceOptions | undefined {
  const input = core.getInput('provenance');
  try {
    return parseProvenance(input);
  } catch (err) {
    throw new InputError('provenance', input, (err as Error).message);
  }
}
