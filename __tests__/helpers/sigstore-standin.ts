/**
 * Local stand-ins for what signing talks to and cannot reach here:
 * - Sigstore's Fulcio, Rekor and timestamp authority: @sigstore/mock's handlers behind one real
 *   HTTPS server on a loopback address and port 443, with a certificate (from a local CA) for
 *   the real host names: fulcio.sigstore.dev, rekor.sigstore.dev (public-good) and
 *   fulcio.githubapp.com, timestamp.githubapp.com (GitHub's instance, for github.com).
 * - GitHub's OIDC token endpoint (ACTIONS_ID_TOKEN_REQUEST_URL) and attestations API
 *   (POST /repos/{owner}/{repo}/attestations), as documented.
 * The action process reaches the HTTPS names through resolve-standins.mjs (preloaded) and
 * trusts the local CA through NODE_EXTRA_CA_CERTS: processEnv() gives those variables.
 */
import { execFileSync } from 'node:child_process';
import { createHash, createHmac, generateKeyPairSync, randomBytes, randomInt } from 'node:crypto';
import { readFileSync, writeFileSync } from 'node:fs';
import https from 'node:https';
import * as path from 'node:path';
import {
  fulcioHandler,
  initializeCA,
  initializeCTLog,
  initializeTLog,
  initializeTSA,
  rekorHandler,
  tsaHandler,
} from '@sigstore/mock';
import { startFake, type FakeServer } from './fakeserver.js';
import { tempDir } from './tmp.js';

export const PUBLIC_GOOD_HOSTS = ['fulcio.sigstore.dev', 'rekor.sigstore.dev'];
export const GITHUB_HOSTS = ['fulcio.githubapp.com', 'timestamp.githubapp.com'];
/** A loopback address no other run is likely to hold port 443 on (127/8 is all loopback). */
const loopback = () => `127.${randomInt(1, 255)}.${randomInt(0, 256)}.${randomInt(1, 255)}`;

type Handler = {
  path: string;
  fn: (body: string) => Promise<{ statusCode: number; response: unknown; contentType?: string }>;
};

const keys = () => generateKeyPairSync('ec', { namedCurve: 'prime256v1' });
const spki = (k: ReturnType<typeof keys>['publicKey']) => k.export({ format: 'der', type: 'spki' });
const sha256 = (b: Buffer | string) => createHash('sha256').update(b).digest();

/**
 * Real Rekor stores a dsse 0.0.1 entry in canonical form (hashes and signatures, not the
 * proposed envelope); the mock logs what it is given, so the proposal is canonicalised first.
 */
function canonicalDsse(body: string): string {
  const proposed = JSON.parse(body) as {
    kind: string;
    apiVersion: string;
    spec: { proposedContent: { envelope: string; verifiers: string[] } };
  };
  if (proposed.kind !== 'dsse') return body;
  const { envelope, verifiers } = proposed.spec.proposedContent;
  const env = JSON.parse(envelope) as { payload: string; signatures: { sig: string }[] };
  const hex = (b: Buffer | string) => sha256(b).toString('hex');
  return JSON.stringify({
    apiVersion: proposed.apiVersion,
    kind: 'dsse',
    spec: {
      envelopeHash: { algorithm: 'sha256', value: hex(envelope) },
      payloadHash: { algorithm: 'sha256', value: hex(Buffer.from(env.payload, 'base64')) },
      signatures: env.signatures.map((s, i) => ({
        signature: s.sig,
        verifier: verifiers[i] ?? verifiers[0],
      })),
    },
  });
}

/** A CA and a server certificate for the stand-ins' names, made with openssl. */
function tlsFiles(dir: string, names: string[]): { ca: string; key: string; cert: string } {
  const f = (n: string) => path.join(dir, n);
  const run = (args: string[]) => execFileSync('openssl', args, { stdio: 'pipe' });
  run(
    [
      'req',
      '-x509',
      '-newkey',
      'ec',
      '-pkeyopt',
      'ec_paramgen_curve:prime256v1',
      '-nodes',
      '-days',
      '2',
    ].concat(['-subj', '/CN=publish-image test CA', '-keyout', f('ca.key'), '-out', f('ca.pem')]),
  );
  run(
    [
      'req',
      '-newkey',
      'ec',
      '-pkeyopt',
      'ec_paramgen_curve:prime256v1',
      '-nodes',
      '-subj',
      '/CN=sigstore stand-in',
    ].concat(['-keyout', f('server.key'), '-out', f('server.csr')]),
  );
  writeFileSync(f('san.ext'), `subjectAltName=${names.map((n) => `DNS:${n}`).join(',')}\n`);
  run(
    [
      'x509',
      '-req',
      '-in',
      f('server.csr'),
      '-CA',
      f('ca.pem'),
      '-CAkey',
      f('ca.key'),
      '-CAcreateserial',
    ].concat(['-days', '2', '-extfile', f('san.ext'), '-out', f('server.pem')]),
  );
  return { ca: f('ca.pem'), key: f('server.key'), cert: f('server.pem') };
}

export interface SigstoreStandIn {
  /** Every request: host and path. */
  seen: { host: string; path: string }[];
  /** TrustedRoot material for @sigstore/verify's toTrustMaterial. */
  trustedRoot: Record<string, unknown>;
  caFile: string;
  address: string;
  close(): Promise<void>;
}

export async function startSigstore(): Promise<SigstoreStandIn> {
  const dir = tempDir('sigstore-standin');
  const tls = tlsFiles(dir, [...PUBLIC_GOOD_HOSTS, ...GITHUB_HOSTS]);
  const [caKey, ctKey, rekorKey, tsaKey] = [keys(), keys(), keys(), keys()];
  // No clocks: the mock's roots are valid from "now", and earlier leaves would predate them.
  const ctLog = await initializeCTLog(ctKey);
  const ca = await initializeCA(caKey, ctLog);
  const tlog = await initializeTLog('https://rekor.sigstore.dev', rekorKey);
  const tsa = await initializeTSA(tsaKey);
  // Whole seconds: the mock's fractions in genTime are refused by @sigstore/core's parser.
  (tsa as unknown as { getCurrentTime: () => Date }).getCurrentTime = () =>
    new Date(Math.floor(Date.now() / 1000) * 1000);
  const rekor = rekorHandler(tlog) as Handler;
  const routes: Record<string, Handler> = {
    'fulcio.sigstore.dev': fulcioHandler(ca, { subjectClaim: 'job_workflow_ref' }) as Handler,
    'fulcio.githubapp.com': fulcioHandler(ca, { subjectClaim: 'job_workflow_ref' }) as Handler,
    'rekor.sigstore.dev': { path: rekor.path, fn: (body) => rekor.fn(canonicalDsse(body)) },
    'timestamp.githubapp.com': tsaHandler(tsa) as Handler,
  };
  const seen: SigstoreStandIn['seen'] = [];
  const server = https.createServer(
    { key: readFileSync(tls.key), cert: readFileSync(tls.cert) },
    (req, res) => {
      const chunks: Buffer[] = [];
      req.on('data', (c: Buffer) => chunks.push(c));
      req.on('end', () => {
        const host = (req.headers.host ?? '').replace(/:\d+$/, '');
        const url = new URL(req.url ?? '/', `https://${host}`);
        seen.push({ host, path: url.pathname });
        const h = routes[host];
        if (!h || h.path !== url.pathname || req.method !== 'POST') {
          res.writeHead(404).end();
          return;
        }
        void h.fn(Buffer.concat(chunks).toString('utf8')).then((r) => {
          res.writeHead(r.statusCode, { 'content-type': r.contentType ?? 'text/plain' });
          res.end(r.response as string | Buffer);
        });
      });
    },
  );
  const address = await listen443(server);
  const start = new Date(Date.now() - 60_000);
  const key = (der: Buffer) => ({
    rawBytes: der,
    keyDetails: 5 /* PKIX_ECDSA_P256_SHA_256 */,
    validFor: { start },
  });
  const log = (baseUrl: string, der: Buffer) => ({
    baseUrl,
    hashAlgorithm: 1,
    publicKey: key(der),
    logId: { keyId: sha256(der) },
  });
  const chain = (uri: string, certs: Buffer[]) => ({
    subject: { organization: 'sigstore.mock', commonName: uri },
    uri,
    certChain: { certificates: certs.map((rawBytes) => ({ rawBytes })) },
    validFor: { start },
  });
  return {
    seen,
    caFile: tls.ca,
    address,
    trustedRoot: {
      mediaType: 'application/vnd.dev.sigstore.trustedroot+json;version=0.1',
      tlogs: [log('https://rekor.sigstore.dev', spki(rekorKey.publicKey))],
      ctlogs: [log('https://ctfe.sigstore.dev', spki(ctKey.publicKey))],
      certificateAuthorities: [
        chain('https://fulcio.sigstore.dev', [Buffer.from(ca.rootCertificate.buffer)]),
      ],
      timestampAuthorities: [
        chain('https://timestamp.githubapp.com', [
          Buffer.from(tsa.intCertificate.buffer),
          Buffer.from(tsa.rootCertificate.buffer),
        ]),
      ],
    },
    close: () =>
      new Promise((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

/** Port 443 on a free loopback address: another test bed's run may hold the one tried first. */
async function listen443(server: https.Server): Promise<string> {
  for (let attempt = 1; ; attempt++) {
    const address = loopback();
    try {
      await new Promise<void>((resolve, reject) => {
        server.once('error', reject);
        server.listen(443, address, () => {
          server.off('error', reject);
          resolve();
        });
      });
      return address;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EADDRINUSE' || attempt >= 5) throw err;
    }
  }
}

/** GitHub's OIDC claims for a workflow run (docs: "About security hardening with OpenID Connect"). */
export function oidcClaims(o: {
  repository: string;
  ref: string;
  sha: string;
  workflowRef: string;
  eventName: string;
}): Record<string, unknown> {
  const now = Math.floor(Date.now() / 1000);
  return {
    iss: 'https://token.actions.githubusercontent.com',
    sub: `repo:${o.repository}:ref:${o.ref}`,
    aud: 'sigstore',
    ref: o.ref,
    sha: o.sha,
    repository: o.repository,
    repository_owner: o.repository.split('/')[0],
    repository_id: '101',
    repository_owner_id: '202',
    run_id: '4242',
    run_attempt: '2',
    event_name: o.eventName,
    workflow_ref: o.workflowRef,
    job_workflow_ref: o.workflowRef,
    runner_environment: 'github-hosted',
    iat: now,
    nbf: now,
    exp: now + 300,
  };
}

/** A signed JWT (HS256 with a throwaway key: Fulcio stand-in reads the claims, as the real one after checking). */
function jwt(claims: Record<string, unknown>): string {
  const b64 = (o: unknown) => Buffer.from(JSON.stringify(o)).toString('base64url');
  const head = `${b64({ alg: 'HS256', typ: 'JWT' })}.${b64(claims)}`;
  return `${head}.${createHmac('sha256', randomBytes(32)).update(head).digest('base64url')}`;
}

export interface GitHubStandIn extends FakeServer {
  /** The runner's bearer for the OIDC endpoint (ACTIONS_ID_TOKEN_REQUEST_TOKEN). */
  requestToken: string;
  /** Every OIDC token handed out (secrets: they must not leak). */
  issued: string[];
  /** Attestations stored through the API: repository and bundle. */
  stored: { repo: string; bundle: any }[];
}

/** GitHub's OIDC token endpoint and attestations API. */
export async function startGitHubStandIn(o: {
  apiToken: string;
  claims: Record<string, unknown>;
}): Promise<GitHubStandIn> {
  const requestToken = randomBytes(16).toString('hex');
  const issued: string[] = [];
  const stored: GitHubStandIn['stored'] = [];
  let nextId = 7000;
  const fake = await startFake((method, url, body, req) => {
    if (method === 'GET' && url.pathname === '/oidc/token') {
      if (req.headers.authorization !== `Bearer ${requestToken}`)
        return { status: 401, body: { message: 'Unauthorized' } };
      const token = jwt({ ...o.claims, aud: url.searchParams.get('audience') ?? '' });
      issued.push(token);
      return { status: 200, body: { count: 1, value: token } };
    }
    const m = /^\/repos\/([^/]+\/[^/]+)\/attestations$/.exec(url.pathname);
    if (m && method === 'POST') {
      if (req.headers.authorization !== `token ${o.apiToken}`)
        return { status: 401, body: { message: 'Bad credentials' } };
      const bundle = (body as { bundle?: unknown } | undefined)?.bundle;
      if (!bundle) return { status: 422, body: { message: 'bundle is required' } };
      stored.push({ repo: m[1]!, bundle });
      return { status: 201, body: { id: nextId++ } };
    }
    return { status: 404, body: { message: 'Not Found' } };
  });
  return { ...fake, requestToken, issued, stored };
}
