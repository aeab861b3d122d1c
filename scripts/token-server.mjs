#!/usr/bin/env node
/**
 * The token server of the test bed's token-auth registry (reg3), the way Docker Hub, GHCR and
 * Quay hand out registry tokens: `GET /token?service=..&scope=..` with optional Basic
 * credentials answers `{ token, access_token, expires_in, issued_at }`, the token an RS256 JWT
 * whose `x5c` header carries our self-signed certificate (distribution 2.8 verifies that chain
 * against its `rootcertbundle`).
 *
 * Who may do what (the rules the e2e tests rely on):
 *   - every caller, anonymous included, may pull any repository (public images, as on Docker Hub)
 *     except `<namespace>/private-...` ones, which only who may push there may pull;
 *   - a user may push (and delete) only in `<user>/...` and in the shared namespace `team/...`;
 *   - anything else asked for (push elsewhere, `registry:catalog:*`) is left out of the token,
 *     as real token servers do, so the registry answers `insufficient_scope`.
 *
 * Configuration, from the environment (scripts/env.sh sets it):
 *   TOKEN_PORT     port on 127.0.0.1                 TOKEN_USERS  JSON file {user: sha256(password) hex}
 *   TOKEN_KEY      PEM private key (RSA)             TOKEN_CERT   PEM certificate of that key
 *   TOKEN_ISSUER   `iss` claim                       TOKEN_SERVICE `aud` claim (the registry's service)
 *   TOKEN_TTL      token lifetime in seconds (default 300)
 *   TOKEN_LOG      JSON-lines log of every request: time, account, scopes asked and granted, ttl,
 *                  the token issued
 *
 * `POST /admin/ttl` with `{"ttl": s, "advertised": s}` changes the lifetime at run time (tests
 * shorten it); `advertised` (default: ttl) is the `expires_in` reported, so a test can hand out
 * tokens that die before the client was told, as a revoked token or a skewed clock does.
 * distribution accepts a token up to 60 s after its `exp` (clock-skew leeway), so `exp` is set
 * 60 s early: the registry then refuses the token `ttl` seconds after it was issued (rounded to
 * whole seconds: up when `expires_in` tells the truth, down when it does not).
 */
import { createHash, randomUUID, sign, timingSafeEqual, X509Certificate } from 'node:crypto';
import { appendFileSync, readFileSync } from 'node:fs';
import http from 'node:http';

const env = process.env;
const REGISTRY_LEEWAY_S = 60;
const config = {
  port: Number(env.TOKEN_PORT ?? 5104),
  key: readFileSync(env.TOKEN_KEY ?? 'token-key.pem', 'utf8'),
  cert: new X509Certificate(readFileSync(env.TOKEN_CERT ?? 'token-cert.pem')),
  users: JSON.parse(readFileSync(env.TOKEN_USERS ?? 'token-users.json', 'utf8')),
  issuer: env.TOKEN_ISSUER ?? 'publish-image-token-server',
  service: env.TOKEN_SERVICE ?? 'publish-image-registry',
  log: env.TOKEN_LOG,
  ttl: Number(env.TOKEN_TTL ?? 300),
  advertised: undefined,
};
const SHARED_NAMESPACE = 'team';
/** `<namespace>/private-...`: a private repository, pulled only by who may push to it. */
const PRIVATE = /^[^/]+\/private-/;

const b64url = (data) => Buffer.from(data).toString('base64url');

/** The account behind a Basic header: a name, null for anonymous, false for wrong credentials. */
function accountOf(header) {
  if (!header) return null;
  const m = /^Basic\s+(\S+)$/i.exec(header);
  if (!m) return false;
  const text = Buffer.from(m[1], 'base64').toString('utf8');
  const at = text.indexOf(':');
  if (at < 0) return false;
  const user = text.slice(0, at);
  const want = config.users[user];
  if (typeof want !== 'string') return false;
  const got = createHash('sha256')
    .update(text.slice(at + 1))
    .digest();
  const expected = Buffer.from(want, 'hex');
  return expected.length === got.length && timingSafeEqual(expected, got) ? user : false;
}

/** `repository:acme/api:pull,push` → its parts; the name may itself hold `:` (a host:port). */
function parseScope(scope) {
  const first = scope.indexOf(':');
  const last = scope.lastIndexOf(':');
  if (first < 0 || last === first) return undefined;
  return {
    type: scope.slice(0, first),
    name: scope.slice(first + 1, last),
    actions: scope
      .slice(last + 1)
      .split(',')
      .filter(Boolean),
  };
}

function allowed(account, type, name) {
  if (type !== 'repository') return [];
  const mayPush = account && (name.startsWith(`${account}/`) || name.startsWith(`${SHARED_NAMESPACE}/`));
  // Where a user may push she may also delete (pull request cleanup untags with DELETE).
  if (mayPush) return ['pull', 'push', 'delete'];
  return PRIVATE.test(name) ? [] : ['pull'];
}

function grant(account, scopes) {
  const access = [];
  for (const s of scopes) {
    const p = parseScope(s);
    if (!p) continue;
    const ok = allowed(account, p.type, p.name);
    access.push({ type: p.type, name: p.name, actions: p.actions.filter((a) => ok.includes(a)) });
  }
  return access;
}

/**
 * When the registry stops accepting a token issued at `nowMs` (whole seconds, as JWT times are):
 * told the truth, it lives at least `ttl` (rounded up, so a client that renews on time is never
 * refused); in the `advertised` mode it dies within `ttl`, as a revoked token would.
 */
function expiryOf(nowMs) {
  const end = (nowMs + config.ttl * 1000) / 1000;
  return (config.advertised === undefined ? Math.ceil(end) : Math.floor(end)) - REGISTRY_LEEWAY_S;
}

function jwt(account, access, nowMs) {
  const now = Math.floor(nowMs / 1000);
  const header = { typ: 'JWT', alg: 'RS256', x5c: [config.cert.raw.toString('base64')] };
  const claims = {
    iss: config.issuer,
    sub: account ?? '',
    aud: config.service,
    iat: now,
    nbf: now,
    exp: expiryOf(nowMs),
    jti: randomUUID(),
    access,
  };
  const input = `${b64url(JSON.stringify(header))}.${b64url(JSON.stringify(claims))}`;
  return `${input}.${b64url(sign('sha256', Buffer.from(input), config.key))}`;
}

function record(entry) {
  if (!config.log) return;
  appendFileSync(config.log, JSON.stringify({ time: new Date().toISOString(), ...entry }) + '\n');
}

function reply(res, status, body, headers = {}) {
  res.writeHead(status, { 'Content-Type': 'application/json', ...headers });
  res.end(JSON.stringify(body));
}

function token(req, res, url) {
  const scopes = url.searchParams.getAll('scope').flatMap((s) => s.split(' ').filter(Boolean));
  const service = url.searchParams.get('service');
  const account = accountOf(req.headers.authorization);
  if (account === false) {
    record({ account: null, scopes, status: 401, error: 'wrong credentials' });
    return reply(res, 401, { details: 'incorrect username or password' }, { 'WWW-Authenticate': 'Basic' });
  }
  if (service !== config.service) {
    record({ account, scopes, status: 400, error: `unknown service ${service}` });
    return reply(res, 400, { details: `unknown service ${service}` });
  }
  const nowMs = Date.now();
  const access = grant(account, scopes);
  const t = jwt(account, access, nowMs);
  const expiresIn = config.advertised ?? config.ttl;
  // The token itself too: the tests' leak check looks for every token issued during a run.
  record({ account, scopes, granted: access, status: 200, ttl: config.ttl, expires_in: expiresIn, token: t });
  reply(res, 200, {
    token: t,
    access_token: t,
    expires_in: expiresIn,
    issued_at: new Date(Math.floor(nowMs / 1000) * 1000).toISOString(),
  });
}

function admin(req, res) {
  const chunks = [];
  req.on('data', (c) => chunks.push(c));
  req.on('end', () => {
    let body;
    try {
      body = JSON.parse(Buffer.concat(chunks).toString('utf8') || '{}');
    } catch {
      return reply(res, 400, { details: 'body is not JSON' });
    }
    if (!(Number(body.ttl) > 0)) return reply(res, 400, { details: 'ttl must be a positive number' });
    config.ttl = Number(body.ttl);
    config.advertised = body.advertised === undefined ? undefined : Number(body.advertised);
    record({ admin: true, ttl: config.ttl, advertised: config.advertised ?? null });
    reply(res, 200, { ttl: config.ttl, advertised: config.advertised ?? config.ttl });
  });
}

const server = http.createServer((req, res) => {
  const url = new URL(req.url ?? '/', 'http://127.0.0.1');
  if (req.method === 'GET' && url.pathname === '/token') return token(req, res, url);
  if (req.method === 'POST' && url.pathname === '/admin/ttl') return admin(req, res);
  if (req.method === 'GET' && url.pathname === '/health') return reply(res, 200, { ok: true });
  req.resume();
  reply(res, 404, { details: 'not found' });
});
server.listen(config.port, '127.0.0.1');
for (const sig of ['SIGTERM', 'SIGINT']) process.on(sig, () => server.close(() => process.exit(0)));
