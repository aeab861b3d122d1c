import Handlebars from 'handlebars';
import type { GitHubContext } from './context.js';
import { checkTimeZone, formatMoment, TimeZoneError } from './dateformat.js';

/** A template that cannot be rendered; callers turn it into an InputError naming the input and line. */
export class ExpressionError extends Error {}

export interface ExpressionScope {
  ctx: GitHubContext;
  shortShaLength: number;
}

export function shortSha(sha: string, length: number): string {
  if (length >= sha.length) return sha;
  return sha.substring(0, length);
}

/** Render a Handlebars template (HTML-escaping `{{ }}` results, as upstream does). */
export function render(template: string, data: object): string {
  try {
    return Handlebars.compile(template)(data);
  } catch (err) {
    if (err instanceof ExpressionError) throw err;
    throw new ExpressionError(`cannot render "${template}": ${(err as Error).message}`);
  }
}

interface HelperOptions {
  hash?: Record<string, unknown>;
}

/** `{{date '<fmt>' tz='<zone>'}}` / `{{commit_date ...}}`: moment-style format, tz default UTC. */
function dateHelper(name: string, date: Date) {
  return (...args: unknown[]): string => {
    if (args.length < 2) {
      throw new ExpressionError(`{{${name}}} needs a format, e.g. {{${name} 'YYYYMMDD'}}`);
    }
    const format = args[0];
    const options = args[args.length - 1] as HelperOptions;
    let zone = 'UTC';
    for (const [key, value] of Object.entries(options?.hash ?? {})) {
      if (key !== 'tz')
        throw new ExpressionError(`Unknown ${key} attribute in {{${name}}} (only tz is allowed)`);
      if (typeof value !== 'string')
        throw new ExpressionError(`tz of {{${name}}} must be a quoted time zone name`);
      zone = value;
    }
    try {
      checkTimeZone(zone);
    } catch (err) {
      if (err instanceof TimeZoneError) throw new ExpressionError(`{{${name}}}: ${err.message}`);
      throw err;
    }
    return formatMoment(date, zone, format ? String(format) : undefined);
  };
}

function dateHelpers(ctx: GitHubContext): Record<string, unknown> {
  return { date: dateHelper('date', ctx.now), commit_date: dateHelper('commit_date', ctx.commitDate) };
}

export function isDefaultBranch(ctx: GitHubContext): boolean {
  const branch = ctx.ref.replace(/^refs\/heads\//, '');
  if (branch.length === 0) return false;
  const defaultBranch = ctx.payload?.repository?.default_branch;
  if (defaultBranch !== undefined && defaultBranch !== null && String(defaultBranch) === branch) return true;
  // These events always run for the last commit of the default branch.
  return /create|discussion|issues|schedule/.test(ctx.eventName);
}

function baseRef(ctx: GitHubContext): string {
  const p = ctx.payload ?? {};
  if (/^refs\/tags\//.test(ctx.ref) && p.base_ref !== undefined && p.base_ref !== null) {
    return String(p.base_ref).replace(/^refs\/heads\//, '');
  }
  const prBase = p.pull_request?.base?.ref;
  if (/^refs\/pull\//.test(ctx.ref) && prBase !== undefined && prBase !== null) return String(prBase);
  return '';
}

/** The global expressions: branch, tag, sha, base_ref, is_(not_)default_branch, date, commit_date. */
function globalData(scope: ExpressionScope): Record<string, unknown> {
  const { ctx } = scope;
  return {
    branch: () => (/^refs\/heads\//.test(ctx.ref) ? ctx.ref.replace(/^refs\/heads\//, '') : ''),
    tag: () => (/^refs\/tags\//.test(ctx.ref) ? ctx.ref.replace(/^refs\/tags\//, '') : ''),
    sha: () => shortSha(ctx.sha, scope.shortShaLength),
    base_ref: () => baseRef(ctx),
    is_default_branch: () => String(isDefaultBranch(ctx)),
    is_not_default_branch: () => String(!isDefaultBranch(ctx)),
    ...dateHelpers(ctx),
  };
}

export function renderGlobal(template: string, scope: ExpressionScope): string {
  return render(template, globalData(scope));
}

/** A schedule pattern only knows {{date}} and {{commit_date}}. */
export function renderSchedule(pattern: string, scope: ExpressionScope): string {
  return render(pattern, dateHelpers(scope.ctx));
}

/** True when the template is a single mustache whose path is `raw` (`{{raw}}`, `{{ raw }}`). */
export function isRawStatement(pattern: string): boolean {
  try {
    const program = Handlebars.parseWithoutProcessing(pattern);
    if (program.body.length !== 1 || program.body[0].type !== 'MustacheStatement') return false;
    const path = (program.body[0] as hbs.AST.MustacheStatement).path as Partial<hbs.AST.PathExpression>;
    return Array.isArray(path.parts) && path.parts.length === 1 && path.parts[0] === 'raw';
  } catch {
    return false;
  }
}
