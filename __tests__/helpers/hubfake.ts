/**
 * A local fake of Docker Hub's web API, as documented:
 *   POST   /v2/users/login {username, password} -> 200 {token} | 401
 *   GET    /v2/namespaces/{ns}/repositories/{repo}/tags?page=&page_size= -> {count, next, previous, results}
 *   DELETE /v2/repositories/{ns}/{repo}/tags/{tag}/ -> 204 | 403 | 404
 * with `Authorization: Bearer <token>` on all but the login. Page size is capped low (Hub: 100).
 */
import { randomBytes } from 'node:crypto';
import { type FakeServer, startFake } from './fakeserver.js';
import { issuedSecrets } from './leaks.js';

export interface HubFake extends FakeServer {
  /** `ns/repo` to its tags. */
  repos: Map<string, Set<string>>;
  /** Tags whose deletion the token may not do (403). */
  protectedTags: Set<string>;
  /** The login token it hands out (a JWT, as Docker Hub's). */
  token: string;
}

export async function startHubFake(o: {
  username: string;
  password: string;
  maxPageSize?: number;
}): Promise<HubFake> {
  const max = o.maxPageSize ?? 2;
  // JWT-shaped, as Docker Hub's login answers: header.claims.signature, base64url each.
  const part = (v: unknown) => Buffer.from(JSON.stringify(v)).toString('base64url');
  const claims = { sub: o.username, jti: randomBytes(8).toString('hex') };
  const token = `${part({ alg: 'RS256', typ: 'JWT' })}.${part(claims)}.${randomBytes(32).toString('base64url')}`;
  issuedSecrets.add(token); // every leak check of the test file looks for it
  const repos = new Map<string, Set<string>>();
  const protectedTags = new Set<string>();
  let base = '';
  const fake = await startFake((method, url, body, req) => {
    const p = url.pathname;
    if (p === '/v2/users/login' && method === 'POST') {
      const b = (body ?? {}) as { username?: string; password?: string };
      if (b.username === o.username && b.password === o.password) return { status: 200, body: { token } };
      return { status: 401, body: { detail: 'Incorrect authentication credentials' } };
    }
    if (req.headers.authorization !== `Bearer ${token}`)
      return { status: 401, body: { detail: 'Authentication credentials were not provided.' } };
    let m = /^\/v2\/namespaces\/([^/]+)\/repositories\/([^/]+)\/tags$/.exec(p);
    if (m && method === 'GET') {
      const tags = repos.get(`${m[1]}/${m[2]}`);
      if (!tags) return { status: 404, body: { message: 'object not found' } };
      const size = Math.min(Number(url.searchParams.get('page_size') ?? 10), max);
      const page = Math.max(1, Number(url.searchParams.get('page') ?? 1));
      const all = [...tags].sort();
      const at = (n: number) => {
        const u = new URL(p, base);
        u.searchParams.set('page', String(n));
        u.searchParams.set('page_size', String(size));
        return u.toString();
      };
      return {
        status: 200,
        body: {
          count: all.length,
          next: page * size < all.length ? at(page + 1) : null,
          previous: page > 1 ? at(page - 1) : null,
          results: all.slice((page - 1) * size, page * size).map((name) => ({ name, tag_status: 'active' })),
        },
      };
    }
    m = /^\/v2\/repositories\/([^/]+)\/([^/]+)\/tags\/([^/]+)\/?$/.exec(p);
    if (m && method === 'DELETE') {
      const tags = repos.get(`${m[1]}/${m[2]}`);
      const tag = decodeURIComponent(m[3]!);
      if (!tags?.has(tag)) return { status: 404, body: { message: 'tag not found' } };
      if (protectedTags.has(tag)) return { status: 403, body: { detail: 'insufficient scope' } };
      tags.delete(tag);
      return { status: 204 };
    }
    return { status: 404, body: { message: 'not found' } };
  });
  base = fake.url;
  return Object.assign(fake, { repos, protectedTags, token });
}
