/**
 * What the build needs to know of a Dockerfile's stages: the image each `FROM` starts from,
 * with the global `ARG`s and the build arguments applied. Not a full parser: instructions,
 * comments, line continuations and the `escape` directive are understood; everything else
 * is left to the builder.
 */
import { readFileSync } from 'node:fs';
import { parseImageName } from '../registry/reference.js';

export interface Stage {
  /** Index of the physical line the `FROM` starts on. */
  line: number;
  /** Whether the instruction sits on that one line (only those are ever rewritten). */
  oneLine: boolean;
  /** The image operand as written (`alpine:${TAG}`). */
  raw: string;
  /** The image with the global ARGs and build arguments applied; `''` if one is unknown. */
  image: string;
  /** `--platform=` as written, if any. */
  platformFlag?: string;
  /** `AS name` (lower case, as the builder compares it). */
  name?: string;
  /** The image is an earlier stage, not an image of a registry. */
  fromStage: boolean;
}

export interface Instruction {
  keyword: string;
  args: string;
  line: number;
  lines: number;
}

/** Logical instructions: comments dropped, continued lines joined. */
export function instructions(text: string): Instruction[] {
  const lines = text.split(/\r?\n/);
  let escape = '\\';
  // Parser directives (`# escape=`` `) come first, before any comment or instruction.
  for (const l of lines) {
    const m = /^#\s*([a-z]+)\s*=\s*(\S+)\s*$/i.exec(l);
    if (!m) break;
    if (m[1]!.toLowerCase() === 'escape') escape = m[2]!;
  }
  const out: Instruction[] = [];
  for (let i = 0; i < lines.length; i++) {
    const first = lines[i]!;
    if (/^\s*(#|$)/.test(first)) continue;
    let text = first;
    let end = i;
    while (text.trimEnd().endsWith(escape) && end + 1 < lines.length) {
      text = text.trimEnd().slice(0, -escape.length);
      end++;
      // Comment lines inside a continued instruction are skipped by the builder too.
      if (/^\s*#/.test(lines[end]!)) continue;
      text += ' ' + lines[end]!;
    }
    const m = /^\s*(\S+)\s*(.*)$/.exec(text);
    if (m) out.push({ keyword: m[1]!.toUpperCase(), args: m[2]!.trim(), line: i, lines: end - i + 1 });
    i = end;
  }
  return out;
}

const unquote = (s: string) => s.replace(/^"(.*)"$/, '$1').replace(/^'(.*)'$/, '$1');

/** `$NAME`, `${NAME}`, `${NAME:-word}`, `${NAME:+word}`; undefined when a name is unknown. */
export function expand(word: string, vars: Map<string, string>): string | undefined {
  let unknown = false;
  const out = word.replace(
    /\$(?:\{([A-Za-z_][A-Za-z0-9_]*)(?::?([-+])([^}]*))?\}|([A-Za-z_][A-Za-z0-9_]*))/g,
    (_all, braced: string | undefined, op: string | undefined, alt: string | undefined, bare?: string) => {
      const name = braced ?? bare!;
      const value = vars.get(name);
      if (op === '-') return value ? value : (alt ?? '');
      if (op === '+') return value ? (alt ?? '') : '';
      if (value === undefined) unknown = true;
      return value ?? '';
    },
  );
  return unknown ? undefined : out;
}

/** `NAME=value` build arguments as a map (a bare `NAME` takes docker's environment: unknown here). */
function argMap(buildArgs: string[]): Map<string, string> {
  const m = new Map<string, string>();
  for (const a of buildArgs) {
    const at = a.indexOf('=');
    if (at > 0) m.set(a.slice(0, at), a.slice(at + 1));
  }
  return m;
}

/** Every stage of a Dockerfile, in order. */
export function parseStages(text: string, buildArgs: string[] = []): Stage[] {
  const given = argMap(buildArgs);
  const globals = new Map<string, string>();
  const stages: Stage[] = [];
  for (const ins of instructions(text)) {
    if (ins.keyword === 'ARG' && stages.length === 0) {
      // Only ARGs before the first FROM can be used in FROM lines.
      for (const decl of ins.args.split(/\s+/).filter(Boolean)) {
        const at = decl.indexOf('=');
        const name = at < 0 ? decl : decl.slice(0, at);
        const fallback = at < 0 ? undefined : unquote(decl.slice(at + 1));
        const value = given.get(name) ?? (fallback === undefined ? undefined : expand(fallback, globals));
        if (value !== undefined) globals.set(name, value);
      }
      continue;
    }
    if (ins.keyword !== 'FROM') continue;
    const words = ins.args.split(/\s+/).filter(Boolean);
    let platformFlag: string | undefined;
    while (words[0]?.startsWith('--')) {
      const flag = words.shift()!;
      const m = /^--platform=(.*)$/i.exec(flag);
      if (m) platformFlag = m[1];
    }
    const raw = words[0] ?? '';
    const name = words.length >= 3 && /^as$/i.test(words[1]!) ? words[2]!.toLowerCase() : undefined;
    const image = expand(raw, globals) ?? '';
    const fromStage = stages.some((s) => s.name !== undefined && s.name === image.toLowerCase());
    stages.push({ line: ins.line, oneLine: ins.lines === 1, raw, image, platformFlag, name, fromStage });
  }
  return stages;
}

/** Stages the classic builder starts from nothing: `FROM scratch`. */
export const isScratch = (s: Stage) => !s.fromStage && s.image === 'scratch';

/**
 * The Dockerfile with every one-line `FROM scratch` (whose `--platform`, if any, needs no
 * build argument) starting from `base(platform)` instead; other lines are kept byte for byte.
 * Returns undefined when nothing was replaced.
 */
export function replaceScratch(
  text: string,
  platform: string,
  base: (platform: string) => string,
  buildArgs: string[] = [],
): string | undefined {
  const lines = text.split('\n');
  let changed = false;
  for (const s of parseStages(text, buildArgs)) {
    if (!isScratch(s) || !s.oneLine) continue;
    const p = s.platformFlag ?? platform;
    if (p.includes('$')) continue;
    const line = lines[s.line]!;
    // The operand is the first word after FROM and its flags.
    const m = /^(\s*\S+\s+(?:--\S+\s+)*)(\S+)(.*)$/.exec(line);
    if (!m || m[2] !== s.raw) continue;
    lines[s.line] = `${m[1]}${base(p)}${m[3]}`;
    changed = true;
  }
  return changed ? lines.join('\n') : undefined;
}

/** Images of a registry the stages start from (no scratch, no earlier stage), each once. */
export function baseImages(text: string, buildArgs: string[] = []): string[] {
  const out: string[] = [];
  for (const s of parseStages(text, buildArgs))
    if (!s.fromStage && s.image && s.image !== 'scratch' && !out.includes(s.image)) out.push(s.image);
  return out;
}

/**
 * The base image reference of the stage that is built (`target`, else the last), `FROM <stage>`
 * followed down to a registry image; undefined for `scratch`, no `FROM`, or a name that depends
 * on an argument not known here. For layer reuse: a wrong answer costs speed, never correctness.
 */
export function baseImageOf(text: string, buildArgs: string[] = [], target = ''): string | undefined {
  const stages = parseStages(text, buildArgs);
  let at = target ? stages.findIndex((s) => s.name === target.toLowerCase()) : stages.length - 1;
  // `FROM builder` names an earlier stage: follow it to the image that stage starts from.
  for (let hops = 0; at >= 0 && stages[at]!.fromStage && hops < stages.length; hops++) {
    const name = stages[at]!.image.toLowerCase();
    let parent = -1;
    for (let i = 0; i < at; i++) if (stages[i]!.name === name) parent = i;
    at = parent;
  }
  const from = at >= 0 ? stages[at]!.image : '';
  return from && from !== 'scratch' ? from : undefined;
}

/** The last FROM of the Dockerfile file that was built, when it can be read; '' otherwise. */
export function builtBase(file: string, buildArgs: string[], target: string): string {
  try {
    const from = baseImageOf(readFileSync(file, 'utf8'), buildArgs, target);
    if (!from) return '';
    parseImageName(from); // a name docker would refuse is no base to reuse
    return from;
  } catch {
    return '';
  }
}
