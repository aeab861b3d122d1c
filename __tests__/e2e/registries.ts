/**
 * The registries the publishing flows run against (htpasswd and token auth), and the token
 * registry's token server: its request log and its run-time token lifetime.
 */
import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { RegistryProbe, uniqueRepo, type Env } from './harness.js';

/** One registry an e2e flow runs against: basic (htpasswd) or token auth. */
export interface RegistryUnderTest {
  kind: 'htpasswd' | 'token';
  host: string;
  user: string;
  pass: string;
  probe: RegistryProbe;
  /** A fresh repository this user may push to (the token registry allows only `<user>/...` and `team/...`). */
  repo(prefix?: string): string;
}

export function htpasswdRegistry(bed: Env): RegistryUnderTest {
  return {
    kind: 'htpasswd',
    host: bed.reg1,
    user: bed.reg1User,
    pass: bed.reg1Pass,
    probe: new RegistryProbe(bed.reg1, bed.reg1User, bed.reg1Pass),
    repo: (prefix) => uniqueRepo(prefix),
  };
}

export function tokenRegistry(bed: Env): RegistryUnderTest {
  return {
    kind: 'token',
    host: bed.reg3,
    user: bed.reg3User,
    pass: bed.reg3Pass,
    probe: new RegistryProbe(bed.reg3, bed.reg3User, bed.reg3Pass),
    repo: (prefix = 'e2e') => `${bed.reg3User}/${prefix}-r${randomBytes(4).toString('hex')}`,
  };
}

/** The kinds every publishing flow runs against, for describe.each. */
export const REGISTRY_KINDS = ['htpasswd', 'token'] as const;
export function registryOfKind(bed: Env, kind: (typeof REGISTRY_KINDS)[number]): RegistryUnderTest {
  return kind === 'token' ? tokenRegistry(bed) : htpasswdRegistry(bed);
}

/** `registry-auth` for any list of registries (under their own names or a proxy's). */
export function registryAuthFor(regs: { host: string; user: string; pass: string }[]): string {
  return regs
    .flatMap((r) => [`- registry: ${r.host}`, `  username: ${r.user}`, `  password: ${r.pass}`])
    .join('\n');
}

export interface TokenLogEntry {
  time: string;
  account: string | null;
  scopes: string[];
  granted?: { type: string; name: string; actions: string[] }[];
  status: number;
  ttl?: number;
  expires_in?: number;
}

/** Token requests logged by the token server since `since` (an ISO time), optionally for one repository. */
export function tokenLog(bed: Env, since: string, repo?: string): TokenLogEntry[] {
  return readFileSync(bed.reg3TokenLog, 'utf8')
    .split('\n')
    .filter(Boolean)
    .map((l) => JSON.parse(l) as TokenLogEntry & { admin?: boolean })
    .filter((e) => !e.admin && e.time >= since)
    .filter((e) => !repo || e.scopes.some((s) => s.startsWith(`repository:${repo}:`)));
}

/** Changes the token server's lifetime (and the `expires_in` it reports) at run time. */
export async function setTokenTtl(bed: Env, ttl: number, advertised?: number): Promise<void> {
  const r = await fetch(`${bed.reg3TokenUrl}/admin/ttl`, {
    method: 'POST',
    body: JSON.stringify(advertised === undefined ? { ttl } : { ttl, advertised }),
  });
  if (!r.ok) throw new Error(`token server: set ttl: ${r.status}`);
}
