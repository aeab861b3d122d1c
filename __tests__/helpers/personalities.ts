/**
 * The personalities the proxy of personality.ts can give the test bed's registry: one per row of
 * the quirks table (/work/shared/reference/registry-quirks.md) that matters for a push, each
 * named after what it does, with the registry known to do it in its comment.
 */
import type { IncomingHttpHeaders } from 'node:http';
import type { Canned, ProxiedRequest, Verdict } from './personality.js';

export interface Personality {
  /** What to do with a request; undefined passes it on unchanged. */
  request?(q: ProxiedRequest, body?: Buffer): Verdict | undefined;
  /** request() needs the whole body first. */
  readsBody?(q: ProxiedRequest): boolean;
  /** Rewrites the registry's answer headers in place; returns the status to send. */
  response?(q: ProxiedRequest, status: number, headers: IncomingHttpHeaders): number;
  /** `blob-redirect`: false hands out a storage URL that has already expired. */
  freshUrl?(path: string): boolean;
}

interface Context {
  /** Repositories that exist (`name-unknown`). */
  existing: Set<string>;
}

const errors = (code: string, message: string, detail?: unknown): string =>
  JSON.stringify({ errors: [{ code, message, ...(detail === undefined ? {} : { detail }) }] });

const UPLOADS = /^\/v2\/(.+)\/blobs\/uploads\/([^?]*)(\?.*)?$/;
const MANIFEST = /^\/v2\/(.+)\/manifests\/([^/?]+)$/;
const BLOB = /^\/v2\/(.+)\/blobs\/(sha256:[a-f0-9]{64})$/;
const TAGS = /^\/v2\/(.+)\/tags\/list(\?.*)?$/;

const isMount = (q: ProxiedRequest) =>
  q.method === 'POST' && UPLOADS.test(q.path) && /[?&]mount=/.test(q.path);

const OCI = [
  'application/vnd.oci.image.manifest.v1+json',
  'application/vnd.oci.image.index.v1+json',
] as const;
const MAX_MANIFEST = 4 * 1024 * 1024;

/** zot (Docker types), ECR (mediaType required), Quay/Nexus (mixed index), distribution (4 MB). */
function strictManifest(q: ProxiedRequest, body: Buffer): Canned | undefined {
  const invalid = (status: number, description: string): Canned => ({
    status,
    body: errors('MANIFEST_INVALID', 'manifest invalid', { description }),
  });
  if (body.length > MAX_MANIFEST)
    return { status: 413, body: errors('SIZE_INVALID', 'manifest too large', { limit: MAX_MANIFEST }) };
  let parsed: { mediaType?: unknown; manifests?: { mediaType?: string }[] };
  try {
    parsed = JSON.parse(body.toString('utf8')) as typeof parsed;
  } catch {
    return invalid(400, 'Invalid JSON syntax');
  }
  const contentType = (q.headers['content-type'] ?? '').trim();
  if (typeof parsed.mediaType !== 'string') return invalid(400, 'Invalid JSON syntax: mediaType is required');
  if (contentType !== parsed.mediaType)
    return invalid(400, `Content-Type ${contentType || '(none)'} differs from mediaType ${parsed.mediaType}`);
  if (!(OCI as readonly string[]).includes(parsed.mediaType))
    return {
      status: 415,
      body: errors('MANIFEST_INVALID', 'manifest invalid', `unsupported media type ${parsed.mediaType}`),
    };
  if ((parsed.manifests ?? []).some((m) => !(OCI as readonly string[]).includes(m.mediaType ?? '')))
    return invalid(400, 'an OCI index may list only OCI manifests');
  return undefined;
}

export type PersonalityName =
  | 'length-required'
  | 'chunked-refused'
  | 'patch-refused'
  | 'patch-201'
  | 'mount-202'
  | 'mount-401'
  | 'blob-redirect'
  | 'paged-tags'
  | 'no-digest-header'
  | 'strict-manifests'
  | 'opaque-upload-state'
  | 'basic-upper'
  | 'name-unknown'
  | 'pull-rate-limit';

export const personalities: Record<PersonalityName, (ctx: Context) => Personality> = {
  /** GAR's front end: a POST or PATCH without Content-Length (a chunked body) is 411. */
  'length-required': () => ({
    request: (q) =>
      (q.method === 'POST' || q.method === 'PATCH') && q.headers['content-length'] === undefined
        ? {
            answer: {
              status: 411,
              headers: { 'Content-Type': 'text/html; charset=UTF-8' },
              body: '<p><b>411.</b> That’s an error. POST requests require a <code>Content-length</code> header.',
            },
          }
        : undefined,
  }),

  /** A registry that takes no chunked transfer encoding: 400 BLOB_UPLOAD_INVALID. */
  'chunked-refused': () => ({
    request: (q) =>
      /chunked/i.test(q.headers['transfer-encoding'] ?? '')
        ? {
            answer: {
              status: 400,
              body: errors(
                'BLOB_UPLOAD_INVALID',
                'blob upload invalid',
                'chunked transfer encoding is not supported',
              ),
            },
          }
        : undefined,
  }),

  /** Monolithic uploads only (GAR's documented API): every PATCH is 405. */
  'patch-refused': () => ({
    request: (q) =>
      q.method === 'PATCH'
        ? { answer: { status: 405, body: errors('UNSUPPORTED', 'The operation is unsupported.') } }
        : undefined,
  }),

  /** ECR: PATCH answers 201, not 202, and the Range of a session stops at its first chunk. */
  'patch-201': () => {
    const firstRange = new Map<string, string>();
    return {
      response: (q, status, headers) => {
        if (q.method !== 'PATCH' || status !== 202) return status;
        const session = q.path.split('?')[0]!;
        const range = typeof headers.range === 'string' ? headers.range : undefined;
        const first = firstRange.get(session);
        if (first) headers.range = first;
        else if (range) firstRange.set(session, range);
        return 201;
      },
    };
  },

  /**
   * GCR/GAR and Artifactory: an upload session's Location is an opaque URL whose query carries
   * the state; a client must use it as given, query and all, never build one from the session's
   * UUID. Each Location handed out is a new path with a one-time token; a request to it without
   * that token is 404 BLOB_UPLOAD_UNKNOWN, a request to the registry's own session path too.
   */
  'opaque-upload-state': () => {
    const sessions = new Map<string, { token: string; real: string }>();
    let n = 0;
    return {
      request: (q) => {
        const m = UPLOADS.exec(q.path);
        if (!m || !m[2]) return undefined; // the POST that opens a session
        const unknown = {
          answer: { status: 404, body: errors('BLOB_UPLOAD_UNKNOWN', 'blob upload unknown to registry') },
        };
        const s = sessions.get(m[2]);
        const query = new URLSearchParams(m[3] ?? '');
        if (!s || query.get('_opaque') !== s.token) return unknown;
        sessions.delete(m[2]); // each Location serves one request: the next comes from its answer
        query.delete('_opaque');
        const real = new URL(s.real, 'http://registry');
        for (const [k, v] of query) real.searchParams.set(k, v);
        return { forward: `${real.pathname}${real.search}` };
      },
      response: (q, status, headers) => {
        const m = UPLOADS.exec(q.path);
        if (!m || typeof headers.location !== 'string' || status !== 202) return status;
        const at = new URL(headers.location, 'http://registry');
        const id = `opaque-${++n}`;
        const token = Math.random().toString(36).slice(2);
        sessions.set(id, { token, real: `${at.pathname}${at.search}` });
        const origin = /^https?:\/\//.test(headers.location) ? at.origin : '';
        headers.location = `${origin}/v2/${m[1]}/blobs/uploads/${id}?_opaque=${token}`;
        headers['docker-upload-uuid'] = id;
        return status;
      },
    };
  },

  /** Nexus (always), ECR (blob not referenced in the source): a mount is a plain upload session, 202. */
  'mount-202': () => ({
    request: (q) => (isMount(q) ? { forward: q.path.replace(/\?.*$/, '') } : undefined),
  }),

  /** Harbor, when the source project is missing; GitLab across projects: a mount is 401. */
  'mount-401': () => ({
    request: (q) =>
      isMount(q)
        ? {
            answer: {
              status: 401,
              headers: { 'WWW-Authenticate': 'Basic realm="basic-realm"' },
              body: errors('UNAUTHORIZED', 'project not found'),
            },
          }
        : undefined,
  }),

  /**
   * S3/CloudFront/Azure behind GHCR, Hub, ACR: a blob GET is a 307 to a storage origin that
   * refuses an Authorization header (400) and whose URLs expire (403). The first URL of each
   * blob is handed out already expired, as a cached one can be, so the client must ask again.
   */
  'blob-redirect': () => {
    const handed = new Set<string>();
    return {
      request: (q) => (q.method === 'GET' && BLOB.test(q.path) ? { redirectBlob: true } : undefined),
      freshUrl: (path) => {
        const fresh = handed.has(path);
        handed.add(path);
        return fresh;
      },
    };
  },

  /** Quay, ECR, Artifactory: tags/list two at a time, the next page behind a relative opaque Link. */
  'paged-tags': () => {
    const pages = new Map<string, number>();
    let next = 0;
    return {
      request: (q) => {
        const m = TAGS.exec(q.path);
        if (q.method !== 'GET' || !m) return undefined;
        const repo = m[1]!;
        const token = new URLSearchParams(m[2] ?? '').get('page');
        const start = token ? pages.get(token) : 0;
        return {
          forward: `/v2/${repo}/tags/list`,
          rewrite: (status, body): Canned => {
            if (status !== 200 || start === undefined)
              return { status: start === undefined ? 400 : status, body: body.toString('utf8') };
            const all = (JSON.parse(body.toString('utf8')) as { tags?: string[] | null }).tags ?? [];
            const page = { name: repo, tags: all.slice(start, start + 2) };
            const headers: Record<string, string> = {};
            if (start + 2 < all.length) {
              const id = `p${++next}${Math.random().toString(36).slice(2, 8)}`;
              pages.set(id, start + 2);
              headers.Link = `</v2/${repo}/tags/list?page=${id}>; rel="next"`;
            }
            return { status: 200, headers, body: JSON.stringify(page) };
          },
        };
      },
    };
  },

  /** ECR, Red Hat, Nexus on PostgreSQL: no Docker-Content-Digest on any answer. */
  'no-digest-header': () => ({
    response: (_q, status, headers) => {
      delete headers['docker-content-digest'];
      return status;
    },
  }),

  /** zot + ECR + Quay rules for manifest PUTs, and 413 over 4 MB. */
  'strict-manifests': () => ({
    readsBody: (q) => q.method === 'PUT' && MANIFEST.test(q.path),
    request: (q, body) => {
      if (!body || q.method !== 'PUT' || !MANIFEST.test(q.path)) return undefined;
      const refused = strictManifest(q, body);
      return refused ? { answer: refused } : { forward: q.path };
    },
  }),

  /** Nexus: `BASIC realm=...`; ECR adds a service parameter. */
  'basic-upper': () => ({
    response: (_q, status, headers) => {
      const h = headers['www-authenticate'];
      if (typeof h === 'string' && /^basic /i.test(h))
        headers['www-authenticate'] = `BASIC ${h.slice(6)},service="registry.example"`;
      return status;
    },
  }),

  /** ECR, GAR, Harbor: a repository (or project) must exist before anything is pushed to it. */
  'name-unknown': ({ existing }) => ({
    request: (q) => {
      const m = UPLOADS.exec(q.path) ?? (q.method === 'PUT' ? MANIFEST.exec(q.path) : null);
      if (!m || existing.has(m[1]!) || !(q.method === 'POST' || q.method === 'PUT')) return undefined;
      const message = `The repository with name '${m[1]}' does not exist in the registry with id '123456789012'`;
      return { answer: { status: 404, body: errors('NAME_UNKNOWN', message, { name: m[1] }) } };
    },
  }),

  /** Docker Hub's pull limit: manifest GETs are counted and refused (429), HEADs are free. */
  'pull-rate-limit': () => ({
    request: (q) =>
      q.method === 'GET' && MANIFEST.test(q.path)
        ? {
            answer: {
              status: 429,
              headers: {
                'Retry-After': '60',
                'RateLimit-Limit': '100;w=21600',
                'RateLimit-Remaining': '0;w=21600',
              },
              body: errors(
                'TOOMANYREQUESTS',
                'You have reached your pull rate limit. You may increase the limit by authenticating and upgrading: https://www.docker.com/increase-rate-limit',
              ),
            },
          }
        : undefined,
    response: (q, status, headers) => {
      if (q.method === 'HEAD' && MANIFEST.test(q.path)) {
        headers['ratelimit-limit'] = '100;w=21600';
        headers['ratelimit-remaining'] = '0;w=21600';
      }
      return status;
    },
  }),
};
