/**
 * A local fake of the part of GitHub's REST API the action calls, with the documented
 * paths, status codes, bodies and Link pagination (GitHub caps per_page at 100; the fake
 * caps it lower so a few items already span pages):
 *   GET    /repos/{owner}/{repo}/pulls/{n}/commits
 *   GET    /repos/{owner}/{repo}/issues/{n}/comments      POST (201)
 *   PATCH  /repos/{owner}/{repo}/issues/comments/{id}
 *   GET    /orgs/{org}/packages/container/{name}/versions  (and /users/{user}/...)
 *   DELETE /orgs/{org}/packages/container/{name}/versions/{id} (204)
 * Requests need `Authorization: token <token>` (401 otherwise).
 */
import { githubPage, type FakeServer, startFake } from './fakeserver.js';

export interface Comment {
  id: number;
  body: string;
  user: { login: string };
}

export interface Version {
  id: number;
  name: string;
  tags: string[];
}

export interface GitHubFake extends FakeServer {
  token: string;
  commits: Map<number, string[]>;
  comments: Map<number, Comment[]>;
  /** `owner/name` of a container package to its versions; `orgs` lists owners that are organizations. */
  packages: Map<string, Version[]>;
  orgs: Set<string>;
}

export async function startGitHubFake(o: { token: string; maxPerPage?: number }): Promise<GitHubFake> {
  const max = o.maxPerPage ?? 2;
  const commits = new Map<number, string[]>();
  const comments = new Map<number, Comment[]>();
  const packages = new Map<string, Version[]>();
  const orgs = new Set<string>();
  let nextId = 1000;
  let base = '';
  const fake = await startFake((method, url, body, req) => {
    if (req.headers.authorization !== `token ${o.token}`)
      return {
        status: 401,
        body: { message: 'Bad credentials', documentation_url: 'https://docs.github.com/rest' },
      };
    const p = url.pathname;
    const notFound = { status: 404, body: { message: 'Not Found' } };
    let m = /^\/repos\/[^/]+\/[^/]+\/pulls\/(\d+)\/commits$/.exec(p);
    if (m && method === 'GET') {
      const list = commits.get(Number(m[1]));
      if (!list) return notFound;
      return githubPage(
        url,
        base,
        list.map((sha) => ({ sha, commit: { message: `commit ${sha.slice(0, 7)}` } })),
        max,
      );
    }
    m = /^\/repos\/[^/]+\/[^/]+\/issues\/(\d+)\/comments$/.exec(p);
    if (m) {
      const n = Number(m[1]);
      const list = comments.get(n) ?? [];
      comments.set(n, list);
      if (method === 'GET') return githubPage(url, base, list, max);
      if (method === 'POST') {
        const c = {
          id: nextId++,
          body: String((body as { body?: string }).body),
          user: { login: 'github-actions[bot]' },
        };
        list.push(c);
        return { status: 201, body: c };
      }
    }
    m = /^\/repos\/[^/]+\/[^/]+\/issues\/comments\/(\d+)$/.exec(p);
    if (m && method === 'PATCH') {
      const c = [...comments.values()].flat().find((x) => x.id === Number(m![1]));
      if (!c) return notFound;
      c.body = String((body as { body?: string }).body);
      return { status: 200, body: c };
    }
    m = /^\/(orgs|users)\/([^/]+)\/packages\/container\/([^/]+)\/versions(?:\/(\d+))?$/.exec(p);
    if (m) {
      const [, kind, owner, name, id] = m;
      if ((kind === 'orgs') !== orgs.has(owner!)) return notFound;
      const versions = packages.get(`${owner}/${decodeURIComponent(name!)}`);
      if (!versions) return notFound;
      if (method === 'GET' && !id)
        return githubPage(
          url,
          base,
          versions.map((v) => ({
            id: v.id,
            name: v.name,
            package_html_url: `https://github.com/${owner}/packages`,
            metadata: { package_type: 'container', container: { tags: v.tags } },
          })),
          max,
        );
      if (method === 'DELETE' && id) {
        const at = versions.findIndex((v) => v.id === Number(id));
        if (at < 0) return notFound;
        versions.splice(at, 1);
        return { status: 204 };
      }
    }
    return notFound;
  });
  base = fake.url;
  return Object.assign(fake, { token: o.token, commits, comments, packages, orgs });
}
