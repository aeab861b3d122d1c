import * as pep440 from '@renovatebot/pep440';
import * as semver from 'semver';
import { InputError } from '../errors.js';
import {
  ExpressionError,
  type ExpressionScope,
  isRawStatement,
  render,
  renderGlobal,
  renderSchedule,
  shortSha,
} from './expressions.js';
import type { Flavor } from './flavor.js';
import { ruleRegex, type TagRule } from './rules.js';

/** Parsed main version, when it came from a semver/pep440 rule on a final release. */
export interface ReleaseVersion {
  major: number;
  minor: number;
  patch: number;
  prerelease: boolean;
  version: string;
}

export interface VersionResult {
  main: string | undefined;
  partial: string[];
  latest: boolean;
  release?: ReleaseVersion;
  warnings: string[];
}

/** Every run of characters outside [A-Za-z0-9._-] becomes one `-`. */
export function sanitizeTag(tag: string): string {
  return tag.replace(/[^a-zA-Z0-9._-]+/g, '-');
}

/** Beyond upstream: a tag docker can never push is an input error. */
export function checkPushable(tag: string, input: string, origin: string): void {
  if (tag.length > 128) {
    throw new InputError(
      input,
      tag,
      `tag is ${tag.length} characters long, docker allows 128 (from: ${origin})`,
    );
  }
  if (/^[.-]/.test(tag)) {
    throw new InputError(input, tag, `tag must not start with "." or "-" (from: ${origin})`);
  }
}

/** Render a template for an input line, turning expression errors into InputErrors. */
export function expandFor(input: string, line: string, fn: () => string): string {
  try {
    return fn();
  } catch (err) {
    if (err instanceof ExpressionError) throw new InputError(input, line, err.message);
    throw err;
  }
}

const TAG_REF = /^refs\/tags\//;
const HEAD_REF = /^refs\/heads\//;
const PULL_REF = /^refs\/pull\//;

class VersionBuilder {
  readonly result: VersionResult = { main: undefined, partial: [], latest: false, warnings: [] };
  private latestDecided = false;

  constructor(
    private readonly flavor: Flavor,
    private readonly scope: ExpressionScope,
    private readonly defaultBranch: string,
  ) {}

  private get ctx() {
    return this.scope.ctx;
  }

  private global(rule: TagRule, template: string): string {
    return expandFor('tags', rule.line, () => renderGlobal(template, this.scope));
  }

  private withAffixes(val: string, rule: TagRule): string {
    const a = rule.attrs;
    const f = this.flavor;
    if (a.has('prefix')) val = this.global(rule, a.get('prefix') ?? '') + val;
    else if (f.prefix.length > 0)
      val = expandFor('flavor', f.prefixLine, () => renderGlobal(f.prefix, this.scope)) + val;
    if (a.has('suffix')) val = val + this.global(rule, a.get('suffix') ?? '');
    else if (f.suffix.length > 0)
      val = val + expandFor('flavor', f.suffixLine, () => renderGlobal(f.suffix, this.scope));
    return val;
  }

  private latestFor(autoLatest: boolean): boolean {
    return this.flavor.latest === 'auto' ? autoLatest : this.flavor.latest === 'true';
  }

  /** Record one produced value (already carrying its prefix/suffix). */
  private add(rule: TagRule, val: string, autoLatest: boolean, release?: ReleaseVersion): void {
    if (val.length === 0) return;
    const tag = sanitizeTag(val);
    checkPushable(tag, 'tags', rule.line);
    if (this.result.main === undefined) {
      this.result.main = tag;
      this.result.release = release;
    } else if (tag !== this.result.main) {
      this.result.partial.push(tag);
    }
    if (!this.latestDecided) {
      this.latestDecided = true;
      this.result.latest = this.latestFor(autoLatest);
    }
  }

  run(rules: TagRule[]): VersionResult {
    for (const rule of rules) {
      const enabled = this.global(rule, rule.attrs.get('enable') ?? 'true');
      if (enabled !== 'true' && enabled !== 'false') {
        throw new InputError(
          'tags',
          rule.line,
          `enable must render to exactly true or false, got "${enabled}"`,
        );
      }
      if (enabled === 'true') this.apply(rule);
    }
    this.result.partial = this.result.partial.filter((t, i, all) => all.indexOf(t) === i);
    return this.result;
  }

  private apply(rule: TagRule): void {
    const ref = this.ctx.ref;
    switch (rule.kind) {
      case 'schedule':
        if (!/schedule/.test(this.ctx.eventName)) return;
        this.add(rule, this.withAffixes(this.schedulePattern(rule), rule), false);
        return;
      case 'semver':
        return this.semverRule(rule);
      case 'pep440':
        return this.pep440Rule(rule);
      case 'match':
        return this.matchRule(rule);
      case 'ref': {
        const event = rule.attrs.get('event');
        if (event === 'branch' && HEAD_REF.test(ref)) {
          this.add(rule, this.withAffixes(ref.replace(HEAD_REF, ''), rule), false);
        } else if (event === 'tag' && TAG_REF.test(ref)) {
          this.add(rule, this.withAffixes(ref.replace(TAG_REF, ''), rule), true);
        } else if (event === 'pr' && PULL_REF.test(ref)) {
          this.add(rule, this.withAffixes(ref.replace(PULL_REF, '').replace(/\/merge$/, ''), rule), false);
        }
        return;
      }
      case 'edge': {
        if (!HEAD_REF.test(ref)) return;
        const branch = rule.attrs.get('branch') || this.defaultBranch;
        if (branch !== ref.replace(HEAD_REF, '')) return;
        this.add(rule, this.withAffixes('edge', rule), false);
        return;
      }
      case 'raw':
        this.add(rule, this.withAffixes(this.global(rule, rule.attrs.get('value') ?? ''), rule), false);
        return;
      case 'sha': {
        const sha = this.ctx.sha;
        if (!sha) return;
        const val = rule.attrs.get('format') === 'short' ? shortSha(sha, this.scope.shortShaLength) : sha;
        this.add(rule, this.withAffixes(val, rule), false);
        return;
      }
    }
  }

  private schedulePattern(rule: TagRule): string {
    return expandFor('tags', rule.line, () => renderSchedule(rule.attrs.get('pattern') ?? '', this.scope));
  }

  /** The version text for semver/pep440/match: `value` (expanded) or the tag name; undefined = rule does not fire. */
  private source(rule: TagRule): string | undefined {
    const value = rule.attrs.get('value') ?? '';
    if (!TAG_REF.test(this.ctx.ref) && value.length === 0) return undefined;
    return value.length > 0 ? this.global(rule, value) : this.ctx.ref.replace(TAG_REF, '');
  }

  /** semver/pep440 `match=`: capture group 1 of a plain regex replaces the version text. */
  private cut(rule: TagRule, vraw: string): string {
    const match = rule.attrs.get('match') ?? '';
    if (match.length === 0) return vraw;
    const m = vraw.match(ruleRegex(match, false));
    if (!m) {
      this.result.warnings.push(`${match} does not match ${vraw}.`);
      return vraw;
    }
    if (m[1] === undefined) {
      throw new InputError('tags', rule.line, `match=${match} matched "${vraw}" but has no capture group 1`);
    }
    return m[1];
  }

  private pattern(rule: TagRule, data: object): string {
    return expandFor('tags', rule.line, () => render(rule.attrs.get('pattern') ?? '', data));
  }

  private semverRule(rule: TagRule): void {
    const src = this.source(rule);
    if (src === undefined) return;
    const vraw = this.cut(rule, src).replace(/\//g, '-');
    if (!semver.valid(vraw)) {
      this.result.warnings.push(`${vraw} is not a valid semver. More info: https://semver.org/`);
      return;
    }
    const parsed = semver.parse(vraw, { loose: true });
    if (!parsed) return;
    // Own enumerable fields only (raw, version, major, ...), as Handlebars would resolve them.
    const data = { ...parsed };
    if (semver.prerelease(vraw)) {
      const val = isRawStatement(rule.attrs.get('pattern') ?? '')
        ? this.pattern(rule, data)
        : render('{{version}}', data);
      this.add(rule, this.withAffixes(val, rule), false);
      return;
    }
    const release: ReleaseVersion = {
      major: parsed.major,
      minor: parsed.minor,
      patch: parsed.patch,
      prerelease: false,
      version: parsed.version,
    };
    this.add(rule, this.withAffixes(this.pattern(rule, data), rule), true, release);
  }

  private pep440Rule(rule: TagRule): void {
    const src = this.source(rule);
    if (src === undefined) return;
    const vraw = this.cut(rule, src).replace(/\//g, '-');
    const explained = pep440.valid(vraw) ? pep440.explain(vraw) : null;
    if (!explained) {
      this.result.warnings.push(
        `${vraw} does not conform to PEP 440. More info: https://www.python.org/dev/peps/pep-0440`,
      );
      return;
    }
    const clean = pep440.clean(vraw) ?? vraw;
    if (explained.is_prerelease || explained.is_postrelease || explained.is_devrelease) {
      const val = isRawStatement(rule.attrs.get('pattern') ?? '') ? vraw : clean;
      this.add(rule, this.withAffixes(val, rule), false);
      return;
    }
    const data = {
      raw: () => vraw,
      version: () => clean,
      major: () => pep440.major(vraw),
      minor: () => pep440.minor(vraw),
      patch: () => pep440.patch(vraw),
    };
    const release: ReleaseVersion = {
      major: pep440.major(vraw),
      minor: pep440.minor(vraw),
      patch: pep440.patch(vraw),
      prerelease: false,
      version: clean,
    };
    this.add(rule, this.withAffixes(this.pattern(rule, data), rule), true, release);
  }

  private matchRule(rule: TagRule): void {
    const vraw = this.source(rule);
    if (vraw === undefined) return;
    const pattern = rule.attrs.get('pattern') ?? '';
    const group = rule.attrs.get('group') ?? '0';
    const m = vraw.match(ruleRegex(pattern, true));
    if (!m) {
      this.result.warnings.push(`${pattern} does not match ${vraw}.`);
      return;
    }
    // Indexed by the attribute text, as upstream does (so `group=01` finds nothing).
    const captured = (m as unknown as Record<string, string | undefined>)[group];
    if (captured === undefined) {
      this.result.warnings.push(`Group ${group} does not exist for ${pattern} pattern.`);
      return;
    }
    this.add(rule, this.withAffixes(captured, rule), true);
  }
}

/** Run the (sorted) rules: main version, partial tags, whether `latest` applies. */
export function computeVersion(
  rules: TagRule[],
  flavor: Flavor,
  scope: ExpressionScope,
  defaultBranch: string,
): VersionResult {
  return new VersionBuilder(flavor, scope, defaultBranch).run(rules);
}

/** The tag names in output order: main, partials, then the latest tag when latest applies. */
export function tagNamesOf(version: VersionResult, flavor: Flavor): { names: string[]; latestTag: string } {
  if (!version.main) return { names: [], latestTag: '' };
  const names = [version.main, ...version.partial];
  let latestTag = '';
  if (version.latest) {
    const raw = `${flavor.prefixLatest ? flavor.prefix : ''}latest${flavor.suffixLatest ? flavor.suffix : ''}`;
    latestTag = sanitizeTag(raw);
    checkPushable(latestTag, 'flavor', raw);
    names.push(latestTag);
  }
  return { names, latestTag };
}
