// Settings, the test bed's variables and the secrets to keep out of what is printed or saved.
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';

export const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
export const DIST = path.resolve(process.env.BENCH_DIST ?? path.join(ROOT, 'dist/index.js'));
export const OUT_DIR = process.env.BENCH_OUT ?? path.join(ROOT, 'bench/results');
export const TIME_BIN = '/usr/bin/time';

export const int = (name, fallback) => {
  const v = process.env[name];
  if (v === undefined || v === '') return fallback;
  const n = Number(v);
  if (!Number.isInteger(n) || n < 0)
    throw new Error(`${name} must be a whole number, got ${JSON.stringify(v)}`);
  return n;
};

export const CONFIG = {
  rounds: int('BENCH_ROUNDS', 5),
  bigRounds: int('BENCH_BIG_ROUNDS', 2),
  coldRounds: int('BENCH_COLD_ROUNDS', 10),
  warmup: int('BENCH_WARMUP', 1),
  smallMiB: int('BENCH_SMALL_MIB', 30),
  bigMiB: int('BENCH_BIG_MIB', 300),
  /** `docker push --all-tags` in case 3 too (adds ~a third to its time). */
  bigAllTags: int('BENCH_BIG_ALLTAGS', 1),
  /** Cases 6 and 7: the base image's size (two layers of text) and the app layer on top. */
  baseMiB: int('BENCH_BASE_MIB', 100),
  appKiB: int('BENCH_APP_KIB', 1024),
  cases: (process.env.BENCH_CASES ?? '1,2,3,4,5,6,7').split(',').map((s) => s.trim()),
};

export function need(name) {
  const v = process.env[name];
  if (!v) throw new Error(`${name} is not set: run the benchmark as "bash bench/run.sh"`);
  return v;
}

export const BED = {
  dockerHost: need('DOCKER_HOST'),
  regs: [
    { host: need('REG1'), user: need('REG1_USER'), pass: need('REG1_PASS') },
    { host: need('REG2'), user: need('REG2_USER'), pass: need('REG2_PASS') },
  ],
};
export const SECRETS = BED.regs.flatMap((r) => [
  r.pass,
  Buffer.from(`${r.user}:${r.pass}`).toString('base64'),
  Buffer.from(r.pass).toString('base64'),
]);

/** Removes anything secret from text that is printed or saved. */
export function scrub(text) {
  let out = text
    .split('\n')
    .filter((l) => !l.startsWith('::add-mask::'))
    .join('\n');
  for (const s of SECRETS) out = out.split(s).join('***');
  return out;
}

export const log = (msg) => process.stderr.write(`${msg}\n`);
