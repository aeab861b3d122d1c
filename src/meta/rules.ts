import { InputError } from '../errors.js';
import { type ListLine, splitFields } from './list.js';

export type RuleKind = 'schedule' | 'semver' | 'pep440' | 'match' | 'edge' | 'ref' | 'raw' | 'sha';

export const DEFAULT_PRIORITIES: Record<RuleKind, string> = {
  schedule: '1000',
  semver: '900',
  pep440: '900',
  match: '800',
  edge: '700',
  ref: '600',
  raw: '200',
  sha: '100',
};

const KINDS = Object.keys(DEFAULT_PRIORITIES) as RuleKind[];

/** One `tags` line: its kind, its attributes (defaults filled in) and the line it came from. */
export interface TagRule {
  kind: RuleKind;
  attrs: Map<string, string>;
  line: string;
}

function need(rule: TagRule, attr: string, reason: string): void {
  if (!rule.attrs.has(attr)) throw new InputError('tags', rule.line, reason);
}

function fillDefault(rule: TagRule, attr: string, value: string): void {
  if (!rule.attrs.has(attr)) rule.attrs.set(attr, value);
}

/** Build the RegExp of a `match`-type pattern: `/re/flags` (when allowed) or a plain expression. */
export function ruleRegex(pattern: string, allowLiteral: boolean): RegExp {
  const literal = allowLiteral ? /^\/(.+)\/(.*)$/.exec(pattern) : null;
  return literal ? new RegExp(literal[1], literal[2]) : new RegExp(pattern);
}

/** Beyond upstream (which fails only when the rule runs): a bad regex fails on every event. */
function checkRegex(rule: TagRule, pattern: string, allowLiteral = false): void {
  try {
    ruleRegex(pattern, allowLiteral);
  } catch (err) {
    throw new InputError('tags', rule.line, `invalid regular expression: ${(err as Error).message}`);
  }
}

function checkKind(rule: TagRule): void {
  const a = rule.attrs;
  switch (rule.kind) {
    case 'schedule':
      fillDefault(rule, 'pattern', 'nightly');
      break;
    case 'semver':
    case 'pep440':
      need(rule, 'pattern', `type=${rule.kind} needs a pattern attribute, e.g. pattern={{version}}`);
      fillDefault(rule, 'value', '');
      fillDefault(rule, 'match', '');
      if (a.get('match')) checkRegex(rule, a.get('match') ?? '');
      break;
    case 'match':
      need(rule, 'pattern', 'type=match needs a pattern attribute (a regular expression)');
      checkRegex(rule, a.get('pattern') ?? '', true);
      fillDefault(rule, 'group', '0');
      if (Number.isNaN(Number(a.get('group')))) {
        throw new InputError('tags', rule.line, `group must be a number, got "${a.get('group')}"`);
      }
      fillDefault(rule, 'value', '');
      break;
    case 'edge':
      fillDefault(rule, 'branch', '');
      break;
    case 'ref': {
      need(rule, 'event', 'type=ref needs an event attribute: event=branch, event=tag or event=pr');
      const event = a.get('event') ?? '';
      if (!['branch', 'tag', 'pr'].includes(event)) {
        throw new InputError('tags', rule.line, `event must be branch, tag or pr, got "${event}"`);
      }
      if (event === 'pr') fillDefault(rule, 'prefix', 'pr-');
      break;
    }
    case 'raw':
      need(rule, 'value', 'type=raw needs a value attribute, e.g. type=raw,value=latest');
      break;
    case 'sha': {
      fillDefault(rule, 'prefix', 'sha-');
      fillDefault(rule, 'format', 'short');
      const format = a.get('format') ?? '';
      if (!['short', 'long'].includes(format)) {
        throw new InputError('tags', rule.line, `format must be short or long, got "${format}"`);
      }
      break;
    }
  }
}

/**
 * Parse one tag rule line (`type=semver,pattern={{version}}`, or a bare value = raw); `fields`
 * when the line quoted a field and the list reader already split it (see readListLines).
 */
export function parseRule(line: string, fields?: string[]): TagRule {
  const attrs = new Map<string, string>();
  let kind: RuleKind | undefined;
  for (const field of fields ?? splitFields('tags', line)) {
    const eq = field.indexOf('=');
    if (eq <= 0) {
      attrs.set('value', field.trim());
      continue;
    }
    const key = field.slice(0, eq).trim().toLowerCase();
    const value = field.slice(eq + 1).trim();
    if (key === 'type') {
      if (!KINDS.includes(value as RuleKind)) {
        throw new InputError('tags', line, `unknown type "${value}" (expected one of ${KINDS.join(', ')})`);
      }
      kind = value as RuleKind;
    } else {
      attrs.set(key, value);
    }
  }
  const rule: TagRule = { kind: kind ?? 'raw', attrs, line };
  checkKind(rule);
  fillDefault(rule, 'enable', 'true');
  fillDefault(rule, 'priority', DEFAULT_PRIORITIES[rule.kind]);
  return rule;
}

/**
 * A line with a quoted field is read with the fields its quotes give (`type=match,"pattern=^v\d{1,2}"`
 * keeps its regular expression whole). Should that reading not make a rule while upstream's does
 * (`"type=raw,value=a"`, one quoted field that upstream splits again), upstream's is kept.
 */
function parseListLine(l: string | ListLine): TagRule {
  if (typeof l === 'string') return parseRule(l);
  if (!l.quoted) return parseRule(l.line);
  try {
    return parseRule(l.quoted.text, l.quoted.fields);
  } catch (quotedError) {
    try {
      return parseRule(l.line);
    } catch {
      throw quotedError;
    }
  }
}

/** Parse every line and sort by priority, highest first; ties keep their input order. */
export function parseRules(lines: (string | ListLine)[]): TagRule[] {
  const rules = lines.map(parseListLine);
  const prio = (r: TagRule): number => Number(r.attrs.get('priority'));
  return rules.sort((x, y) => {
    if (prio(x) < prio(y)) return 1;
    if (prio(x) > prio(y)) return -1;
    return 0;
  });
}

/** `type=...,k=v,...` as upstream logs a rule. */
export function ruleToString(rule: TagRule): string {
  return [`type=${rule.kind}`, ...[...rule.attrs].map(([k, v]) => `${k}=${v}`)].join(',');
}
