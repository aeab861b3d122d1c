/**
 * What the leak check of every end-to-end run searches, besides the log: each child process the
 * action starts, caught at exec time (not sampled), with its argv and its whole environment;
 * the tokens the test bed's servers issued; and every form a secret takes on its way (base64,
 * `user:password`, the X-Registry-Auth JSON, anything base64 that decodes to a secret).
 */
import {
  chmodSync,
  existsSync,
  mkdirSync,
  readdirSync,
  readFileSync,
  statSync,
  writeFileSync,
} from 'node:fs';
import * as path from 'node:path';

/** One program the action (or a program it ran) started: its name, argv and environment. */
export interface ChildCall {
  program: string;
  argv: string[];
  env: Record<string, string>;
}

/** Programs the action starts by name; every `docker-credential-*` on the PATH is added. */
const SPIED = ['docker', 'git', 'mkfifo', 'sh'];

/**
 * A directory of wrapper scripts, one per program the action may start, for the front of the
 * child's PATH. Each records its argv and environment (as the kernel handed them over, from
 * /proc/self/environ) in a file of its own under `log`, then execs the program it stands for:
 * the one the PATH behind it would have found, so fakes earlier in the PATH still run.
 */
export function childSpy(dir: string, pathVar: string): { path: string; calls: () => ChildCall[] } {
  const bin = path.join(dir, 'bin');
  const log = path.join(dir, 'calls');
  mkdirSync(bin, { recursive: true });
  mkdirSync(log, { recursive: true });
  const dirs = pathVar.split(':').filter(Boolean);
  const found = (name: string) => dirs.map((d) => path.join(d, name)).find((p) => isExecutable(p));
  const helpers = dirs.flatMap((d) => (existsSync(d) ? readdirSync(d) : [])).filter(isHelperName);
  const cat = found('cat') ?? '/bin/cat';
  for (const name of new Set([...SPIED, ...helpers])) {
    const real = found(name);
    if (!real) continue; // absent stays absent: the action's own "not found" paths still run
    writeFileSync(path.join(bin, name), wrapper(name, real, log, cat), { mode: 0o755 });
    chmodSync(path.join(bin, name), 0o755);
  }
  return { path: `${bin}:${pathVar}`, calls: () => readCalls(log) };
}

const isHelperName = (n: string) => /^docker-credential-[A-Za-z0-9._-]+$/.test(n);

function isExecutable(p: string): boolean {
  const st = statSync(p, { throwIfNoEntry: false });
  return !!st && st.isFile() && (st.mode & 0o111) !== 0;
}

const q = (s: string) => `'${s.replace(/'/g, `'\\''`)}'`;

/**
 * `set -C` makes `>` fail on an existing file: the first free `<pid>.<n>` is this call's, with
 * no other process started to find it. The argv goes NUL-separated, the environment as is.
 */
function wrapper(name: string, real: string, log: string, cat: string): string {
  return [
    '#!/bin/sh',
    `n=0; while ! (set -C; : >${q(log)}/$$.$n.argv) 2>/dev/null; do n=$((n+1)); done`,
    `f=${q(log)}/$$.$n`,
    `printf '%s\\0' ${q(name)} "$@" >"$f.argv"`,
    `${q(cat)} /proc/$$/environ >"$f.env"`,
    `exec ${q(real)} "$@"`,
    '',
  ].join('\n');
}

function readCalls(log: string): ChildCall[] {
  if (!existsSync(log)) return [];
  return readdirSync(log)
    .filter((f) => f.endsWith('.argv'))
    .map((f) => {
      const base = path.join(log, f.slice(0, -'.argv'.length));
      const [program = '', ...argv] = readFileSync(`${base}.argv`, 'utf8').split('\0').slice(0, -1);
      const env: Record<string, string> = {};
      const text = existsSync(`${base}.env`) ? readFileSync(`${base}.env`, 'utf8') : '';
      for (const kv of text.split('\0').filter(Boolean)) {
        const at = kv.indexOf('=');
        env[kv.slice(0, at)] = kv.slice(at + 1);
      }
      return { program, argv, env };
    });
}

/**
 * Tokens the test's own fakes issued (the Docker Hub fake's login token): watched by every leak
 * check in the test file from the moment they exist.
 */
export const issuedSecrets = new Set<string>();

/** The bearer tokens a token server issued, from its JSON-lines log, after `fromByte`. */
export function tokensInLog(file: string | undefined, fromByte: number): string[] {
  if (!file || !existsSync(file)) return [];
  const text = readFileSync(file).subarray(fromByte).toString('utf8');
  const out: string[] = [];
  for (const line of text.split('\n')) {
    if (!line.trim()) continue;
    const entry = JSON.parse(line) as { token?: string };
    if (entry.token) out.push(entry.token);
  }
  return out;
}

/** A file's size now, where the tokens of a run start in its log. */
export function sizeOf(file: string | undefined): number {
  return file && existsSync(file) ? statSync(file).size : 0;
}

/**
 * Every form of the secrets that could carry one: each itself and its base64; for each known
 * account whose password is among them, base64(user:password) and the X-Registry-Auth value
 * docker's API takes for each server address given (JSON of username, password, serveraddress
 * in base64url, with padding, as the docker CLI writes it).
 */
export function formsOf(
  secrets: string[],
  accounts: { user: string; pass: string }[],
  serverAddresses: string[],
): string[] {
  const forms = new Set<string>();
  for (const s of secrets.filter(Boolean)) {
    forms.add(s);
    forms.add(Buffer.from(s).toString('base64'));
  }
  for (const { user, pass } of accounts) {
    if (!secrets.includes(pass)) continue;
    forms.add(Buffer.from(`${user}:${pass}`).toString('base64'));
    for (const serveraddress of serverAddresses) {
      const json = JSON.stringify({ username: user, password: pass, serveraddress });
      forms.add(Buffer.from(json).toString('base64').replace(/\+/g, '-').replace(/\//g, '_'));
    }
  }
  return [...forms];
}

/**
 * Base64 (or base64url) runs in `text` that decode to something holding a secret: the forms no
 * list can foresee (an X-Registry-Auth for a proxy's address, a config.json `auth` of any user).
 */
export function encodedSecrets(text: string, secrets: string[]): string[] {
  const plain = secrets.filter((s) => s.length >= 6);
  const found: string[] = [];
  for (const m of text.matchAll(/[A-Za-z0-9+/_-]{16,}={0,2}/g)) {
    const raw = m[0];
    const decoded = Buffer.from(raw.replace(/-/g, '+').replace(/_/g, '/'), 'base64').toString('latin1');
    if (plain.some((s) => decoded.includes(s))) found.push(raw);
  }
  return found;
}
