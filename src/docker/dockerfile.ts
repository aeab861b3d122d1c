/**
 * Which image a Dockerfile builds on: the `FROM` of the stage that is built (the last one, or
 * `target`), with `ARG` defaults and build-args substituted and `FROM <stage>` followed down to
 * a real image. Only what reuse needs: a wrong or unknown answer costs speed, never correctness.
 */

interface Stage {
  name?: string;
  from: string;
}

/** Instructions with their continuation lines joined; comments and blank lines dropped. */
function instructions(text: string): string[] {
  const out: string[] = [];
  let current = '';
  for (const raw of text.split(/\r?\n/)) {
    const line = raw.trim();
    if (!current && (line === '' || line.startsWith('#'))) continue;
    if (current && line.startsWith('#')) continue; // comments inside a continued instruction
    if (line.endsWith('\\')) {
      current += `${line.slice(0, -1)} `;
      continue;
    }
    out.push((current + line).trim());
    current = '';
  }
  if (current.trim()) out.push(current.trim());
  return out;
}

/** `$X`, `${X}`, `${X:-default}` and `${X:+alt}` as the Dockerfile frontend expands them. */
export function expandArgs(value: string, args: Map<string, string>): string {
  return value.replace(
    /\$\{([A-Za-z_][A-Za-z0-9_]*)(?::([-+])([^}]*))?\}|\$([A-Za-z_][A-Za-z0-9_]*)/g,
    (_m, braced: string | undefined, op: string | undefined, word: string | undefined, bare?: string) => {
      const v = args.get(braced ?? bare ?? '') ?? '';
      if (op === '-') return v || (word ?? '');
      if (op === '+') return v ? (word ?? '') : '';
      return v;
    },
  );
}

/** `NAME=value` lines of the build-args input as a map (a bare `NAME` has no value to offer). */
function buildArgMap(buildArgs: string[]): Map<string, string> {
  const m = new Map<string, string>();
  for (const a of buildArgs) {
    const eq = a.indexOf('=');
    if (eq > 0) m.set(a.slice(0, eq), a.slice(eq + 1));
  }
  return m;
}

/** One `ARG` instruction: every `NAME[=default]` it declares. */
function declaredArgs(rest: string): [string, string | undefined][] {
  return rest
    .split(/\s+/)
    .filter(Boolean)
    .map((decl) => {
      const eq = decl.indexOf('=');
      if (eq < 0) return [decl, undefined];
      return [decl.slice(0, eq), decl.slice(eq + 1).replace(/^"(.*)"$|^'(.*)'$/, '$1$2')];
    });
}

/**
 * The base image reference of the stage that is built, or undefined for `scratch`, a
 * Dockerfile with no `FROM`, or one whose answer depends on something not known here.
 */
export function baseImageOf(dockerfile: string, buildArgs: string[] = [], target = ''): string | undefined {
  const given = buildArgMap(buildArgs);
  const globalArgs = new Map<string, string>();
  const stages: Stage[] = [];
  for (const ins of instructions(dockerfile)) {
    const m = /^(\w+)\s+(.*)$/.exec(ins);
    if (!m) continue;
    const [, keyword, rest] = m as unknown as [string, string, string];
    const kw = keyword.toUpperCase();
    // Only ARGs before the first FROM are visible to FROM lines.
    if (kw === 'ARG' && stages.length === 0) {
      for (const [name, def] of declaredArgs(rest)) {
        const v = given.get(name) ?? (def !== undefined ? expandArgs(def, globalArgs) : undefined);
        if (v !== undefined) globalArgs.set(name, v);
      }
    } else if (kw === 'FROM') {
      const words = rest.split(/\s+/).filter((w) => !w.startsWith('--'));
      const from = expandArgs(words[0] ?? '', globalArgs);
      const name =
        words.length >= 3 && words[1]!.toUpperCase() === 'AS' ? words[2]!.toLowerCase() : undefined;
      stages.push({ name, from });
    }
  }
  let stage = target ? stages.find((s) => s.name === target.toLowerCase()) : stages[stages.length - 1];
  // `FROM builder` names an earlier stage: follow it to the image it starts from.
  for (let hops = 0; stage && hops < stages.length; hops++) {
    const at = stages.indexOf(stage);
    const parent = stages.slice(0, at).find((s) => s.name === stage!.from.toLowerCase());
    if (!parent) break;
    stage = parent;
  }
  const from = stage?.from ?? '';
  if (!from || from.toLowerCase() === 'scratch' || from.includes('$')) return undefined;
  return from;
}
