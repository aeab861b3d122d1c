/**
 * Registry credentials: from a docker `config.json` (inline auths, credential helpers,
 * credsStore) or from memory. Secrets never go on a command line.
 */
import { spawn } from 'node:child_process';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { DOCKER_HUB } from './reference.js';
import { childEnv, maskCredential, maskSecret } from '../secrets.js';

export type Credential = { username: string; password: string } | { identityToken: string };
export type CredentialLookup = (registry: string) => Promise<Credential | undefined>;

/** The key docker uses for Docker Hub in `auths` and for credential helpers. */
export const DOCKER_HUB_AUTH_KEY = 'https://index.docker.io/v1/';

interface AuthEntry {
  auth?: string;
  username?: string;
  password?: string;
  identitytoken?: string;
}

interface DockerConfig {
  auths?: Record<string, AuthEntry>;
  credHelpers?: Record<string, string>;
  credsStore?: string;
}

/** Normalises a registry name or config key (`https://host/v1/`, `host`) to a bare host. */
export function registryKey(nameOrUrl: string): string {
  let s = nameOrUrl.trim().toLowerCase();
  s = s.replace(/^[a-z][a-z0-9+.-]*:\/\//, '');
  s = s.replace(/\/.*$/, '');
  if (s === 'index.docker.io' || s === 'registry-1.docker.io' || s === 'registry.hub.docker.com')
    s = DOCKER_HUB;
  return s;
}

/** The server URL docker stores a registry's credentials under. */
export function serverUrlOf(registry: string): string {
  return registryKey(registry) === DOCKER_HUB ? DOCKER_HUB_AUTH_KEY : registry;
}

/** Decodes one `auths` entry; undefined when it holds nothing usable. */
export function credentialFromAuthEntry(entry: AuthEntry): Credential | undefined {
  if (entry.identitytoken) return { identityToken: entry.identitytoken };
  if (entry.auth) {
    const decoded = Buffer.from(entry.auth, 'base64').toString('utf8');
    const colon = decoded.indexOf(':');
    if (colon > 0) return { username: decoded.slice(0, colon), password: decoded.slice(colon + 1) };
  }
  if (entry.username && entry.password !== undefined)
    return { username: entry.username, password: entry.password };
  return undefined;
}

export type HelperRunner = (helper: string, serverUrl: string) => Promise<string | undefined>;

/**
 * Runs `docker-credential-<helper> get` with the server URL on stdin and returns its stdout,
 * or undefined when the helper has no credentials for that server.
 */
export const runCredentialHelper: HelperRunner = (helper, serverUrl) =>
  new Promise((resolve, reject) => {
    if (!/^[A-Za-z0-9._-]+$/.test(helper)) {
      reject(new Error(`invalid credential helper name "${helper}"`));
      return;
    }
    // The helper reads the server URL on stdin and its own store; none of the step's tokens.
    const child = spawn(`docker-credential-${helper}`, ['get'], {
      stdio: ['pipe', 'pipe', 'pipe'],
      env: childEnv(),
    });
    const out: Buffer[] = [];
    const err: Buffer[] = [];
    child.stdout.on('data', (c: Buffer) => out.push(c));
    child.stderr.on('data', (c: Buffer) => err.push(c));
    child.on('error', (e) =>
      reject(new Error(`credential helper docker-credential-${helper}: ${e.message}`, { cause: e })),
    );
    child.on('close', (code) => {
      const stdout = Buffer.concat(out).toString('utf8');
      if (code === 0) return resolve(stdout);
      const msg = (Buffer.concat(err).toString('utf8') + stdout).trim();
      if (/credentials not found|not found in native keychain|no credentials/i.test(msg))
        return resolve(undefined);
      // What a failing helper prints may be the very secret it guards (or part of its store),
      // and nothing can mask what is not known: its output is said by size, never shown.
      reject(
        new Error(
          `credential helper docker-credential-${helper} failed (exit ${code}) for ${serverUrl}; its output (${msg.length} characters) is not shown, as it may hold a secret: run "docker-credential-${helper} get" on the runner to see it`,
        ),
      );
    });
    child.stdin.on('error', () => {}); // helper may exit before reading
    child.stdin.end(serverUrl);
  });

/** Parses a helper's `{ServerURL, Username, Secret}` answer (`<token>` user = identity token). */
export function credentialFromHelperOutput(stdout: string): Credential | undefined {
  let parsed: { Username?: string; Secret?: string };
  try {
    parsed = JSON.parse(stdout) as { Username?: string; Secret?: string };
  } catch {
    // JSON.parse quotes the text it could not read: that text is the helper's secret answer.
    throw new Error('a credential helper answered with something other than JSON (not shown)');
  }
  if (!parsed.Secret) return undefined;
  maskCredential(parsed.Username ?? '', parsed.Secret);
  if (parsed.Username === '<token>') return { identityToken: parsed.Secret };
  return { username: parsed.Username ?? '', password: parsed.Secret };
}

/**
 * Looks credentials up the way the docker CLI does: `credHelpers[host]`, else inline `auths`,
 * else `credsStore`. The config is read on every lookup (others may log in meanwhile).
 */
export function dockerConfigCredentials(
  configDir: string,
  runHelper: HelperRunner = runCredentialHelper,
): CredentialLookup {
  return async (registry) => {
    let config: DockerConfig;
    try {
      config = JSON.parse(await readFile(join(configDir, 'config.json'), 'utf8')) as DockerConfig;
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
      throw new Error(`cannot read ${join(configDir, 'config.json')}: ${(e as Error).message}`, { cause: e });
    }
    const want = registryKey(registry);
    const serverUrl = serverUrlOf(registry);
    const fromHelper = async (helper: string) => {
      const out = await runHelper(helper, serverUrl);
      return out === undefined ? undefined : credentialFromHelperOutput(out);
    };
    for (const [key, helper] of Object.entries(config.credHelpers ?? {})) {
      if (registryKey(key) === want && helper) return fromHelper(helper);
    }
    const auths = Object.entries(config.auths ?? {});
    // An exact key wins over a normalised match (`https://host` vs `host`).
    const exact = auths.find(([key]) => key === serverUrl || key === registry);
    const match = exact ?? auths.find(([key]) => registryKey(key) === want);
    if (match) {
      const cred = credentialFromAuthEntry(match[1]);
      if (cred) return masked(cred);
    }
    if (config.credsStore) return fromHelper(config.credsStore);
    return undefined;
  };
}

/** A credential read from a docker config, masked before anything can print it. */
function masked(cred: Credential): Credential {
  if ('identityToken' in cred) maskSecret(cred.identityToken);
  else maskCredential(cred.username, cred.password);
  return cred;
}

/** Credentials already held in memory, keyed by registry (any form registryKey understands). */
export function staticCredentials(map: Record<string, Credential | undefined>): CredentialLookup {
  const byKey = new Map<string, Credential>();
  for (const [k, v] of Object.entries(map)) if (v) byKey.set(registryKey(k), v);
  return async (registry) => byKey.get(registryKey(registry));
}
