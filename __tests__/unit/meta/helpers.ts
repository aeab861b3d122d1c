import { expect } from '@jest/globals';
import { InputError } from '../../../src/errors.js';
import {
  computeMeta,
  type GitHubContext,
  type Meta,
  type MetaInputs,
  metaOptionsFromEnv,
  workflowContext,
} from '../../../src/meta/index.js';

export const SHA = '860c1904a1ce19322e91ac35af1ab07466440c37';
export const SHORT = 'sha-860c190';
export const NOW = new Date('2020-01-10T00:30:00.000Z');

export const REPO = {
  name: 'Hello-World',
  description: 'This your first repo!',
  html_url: 'https://github.com/octocat/Hello-World',
  license: { spdx_id: 'MIT' },
  default_branch: 'master',
};

export interface CtxOptions {
  payload?: Record<string, unknown>;
  env?: Record<string, string>;
  noRepo?: boolean;
  sha?: string;
}

export function ctxFor(event: string, ref: string, o: CtxOptions = {}): GitHubContext {
  const payload = o.noRepo ? { ...o.payload } : { repository: REPO, ...o.payload };
  const run = {
    eventName: event,
    ref,
    sha: o.sha ?? SHA,
    repository: 'octocat/Hello-World',
    serverUrl: o.env?.GITHUB_SERVER_URL,
    payload,
  };
  return workflowContext(run, o.env ?? {}, () => NOW);
}

export function run(inputs: Partial<MetaInputs>, ctx: GitHubContext, env: Record<string, string> = {}): Meta {
  const all: MetaInputs = {
    images: '',
    tags: '',
    flavor: '',
    labels: '',
    annotations: '',
    sepTags: '',
    sepLabels: '',
    sepAnnotations: '',
    ...inputs,
  };
  return computeMeta(all, ctx, metaOptionsFromEnv(env));
}

/** Runs fn, expects an InputError for `input` whose value is `line`, and a message naming both. */
export function expectInputError(
  fn: () => unknown,
  input: string,
  line: string,
  reason?: RegExp,
): InputError {
  let caught: unknown;
  try {
    fn();
  } catch (err) {
    caught = err;
  }
  expect(caught).toBeInstanceOf(InputError);
  const err = caught as InputError;
  expect(err.input).toBe(input);
  expect(err.value).toBe(line);
  expect(err.message).toContain(`"${input}"`);
  expect(err.message).toContain(JSON.stringify(line));
  if (reason) expect(err.message).toMatch(reason);
  return err;
}
