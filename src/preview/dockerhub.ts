/**
 * Removing preview tags from Docker Hub, whose registry API cannot delete: its web API logs
 * in with the same username and access token and deletes a tag by name (the image stays
 * for any other tag on it, so no digest check is needed).
 */
import { messageOf } from '../errors.js';
import { maskSecret } from '../secrets.js';
import type { RegistryLogin } from '../inputs.js';
import { type CleanupLog, emptyOutcome, type Outcome } from './outcome.js';

/** Docker Hub's web API; DOCKERHUB_API_URL points elsewhere (a test fake). */
export function hubBaseUrl(env: Record<string, string | undefined>): string {
  return (env.DOCKERHUB_API_URL || 'https://hub.docker.com').replace(/\/+$/, '');
}

class HubError extends Error {
  constructor(
    readonly status: number,
    what: string,
  ) {
    super(`Docker Hub answered ${status} to ${what}`);
  }
}

async function call(url: string, init: RequestInit, what: string): Promise<Response> {
  const res = await fetch(url, { ...init, signal: AbortSignal.timeout(30_000) });
  if (!res.ok) {
    await res.body?.cancel();
    throw new HubError(res.status, what);
  }
  return res;
}

async function login(base: string, l: RegistryLogin): Promise<string> {
  const res = await call(
    `${base}/v2/users/login`,
    {
      method: 'POST',
      headers: { 'Content-Type': 'application/json', Accept: 'application/json' },
      body: JSON.stringify({ username: l.username, password: l.password }),
    },
    `the login of ${l.username}`,
  );
  const token = ((await res.json()) as { token?: unknown }).token;
  if (typeof token !== 'string' || !token) throw new Error('Docker Hub login answered without a token');
  // The JWT acts for the account until it expires: masked before any request carries it.
  maskSecret(token);
  return token;
}

/** Every tag name of the repository, following the `next` page links. */
async function listHubTags(base: string, token: string, ns: string, repo: string): Promise<string[]> {
  const names: string[] = [];
  let next: string | null = `${base}/v2/namespaces/${ns}/repositories/${repo}/tags?page_size=100`;
  for (let pages = 0; next && pages < 1000; pages++) {
    const res = await call(
      next,
      { headers: { Authorization: `Bearer ${token}` } },
      `listing the tags of ${ns}/${repo}`,
    );
    const page = (await res.json()) as { next?: string | null; results?: { name?: string }[] };
    for (const r of page.results ?? []) if (r.name) names.push(r.name);
    next = page.next ?? null;
  }
  return names;
}

function advice(status: number): string {
  if (status === 401) return 'the username or access token was refused';
  if (status === 403) return 'the access token may not delete: give it the Read, Write, Delete scope';
  return `Docker Hub answered ${status}`;
}

export async function cleanDockerHub(
  base: string,
  login_: RegistryLogin | undefined,
  target: { name: string; repository: string },
  previewTags: string[],
  log: CleanupLog,
): Promise<Outcome> {
  const out = emptyOutcome();
  const ref = (tag: string) => `${target.name}:${tag}`;
  const [ns, ...rest] = target.repository.split('/');
  const repo = rest.join('/');
  const leaveAll = (why: string) => {
    log.warning(`${target.name}: preview tags not removed: ${why}`);
    for (const t of previewTags) out.left.push({ ref: ref(t), why });
    return out;
  };
  if (!login_) return leaveAll('no Docker Hub login given (username and password for docker.io)');
  let token: string;
  let present: string[];
  try {
    token = await login(base, login_);
    const all = new Set(await listHubTags(base, token, ns!, repo));
    present = previewTags.filter((t) => all.has(t));
  } catch (err) {
    return leaveAll(err instanceof HubError ? advice(err.status) : messageOf(err));
  }
  for (const tag of present) {
    try {
      await call(
        `${base}/v2/repositories/${ns}/${repo}/tags/${encodeURIComponent(tag)}/`,
        { method: 'DELETE', headers: { Authorization: `Bearer ${token}` } },
        `deleting ${ref(tag)}`,
      );
      out.removed.push({ ref: ref(tag) });
    } catch (err) {
      const why = err instanceof HubError ? advice(err.status) : messageOf(err);
      log.warning(`${ref(tag)} not removed: ${why}`);
      out.left.push({ ref: ref(tag), why });
    }
  }
  return out;
}
