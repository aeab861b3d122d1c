import { describe, expect, it } from '@jest/globals';
import { contextFromEnv, type MetaInputs } from '../../../src/meta/index.js';
import { previewTags } from '../../../src/preview/tags.js';

const A = 'a'.repeat(40);
const B = 'b'.repeat(40);
const opts = { shortShaLength: 7, annotationLevels: ['manifest'] };
const ctx = contextFromEnv(
  { GITHUB_EVENT_NAME: 'pull_request', GITHUB_REF: 'refs/pull/7/merge', GITHUB_SHA: 'e'.repeat(40) },
  { action: 'closed', number: 7, repository: { default_branch: 'main' } },
);
const inputs = (tags: string, flavor = ''): MetaInputs => ({
  images: 'reg.example/acme/api',
  tags,
  flavor,
  labels: '',
  annotations: '',
  sepTags: '\n',
  sepLabels: '\n',
  sepAnnotations: '\n',
});

describe("a closed pull request's preview tags, as the rules give them", () => {
  it.each([
    [
      'the default rules: pr-N and one sha- tag a commit',
      '',
      '',
      [A, B],
      ['pr-7', 'sha-aaaaaaa', 'sha-bbbbbbb'],
    ],
    [
      'prefix and suffix on the pr rule (its own prefix replaces pr-)',
      'type=ref,event=pr,prefix=preview-,suffix=-x\ntype=sha',
      '',
      [A],
      ['preview-7-x', 'sha-aaaaaaa'],
    ],
    [
      'a flavor suffix (a flavor prefix never reaches pr/sha tags)',
      '',
      'prefix=app-\nsuffix=-app',
      [A],
      ['pr-7-app', 'sha-aaaaaaa-app'],
    ],
    [
      'flavor latest=true adds no latest: no preview owns it',
      '',
      'latest=true',
      [A],
      ['pr-7', 'sha-aaaaaaa'],
    ],
    [
      'raw and branch rules are never a preview',
      'type=raw,value=preview\ntype=ref,event=branch\ntype=ref,event=pr',
      '',
      [A, B],
      ['pr-7'],
    ],
    ['long sha tags', 'type=sha,format=long', '', [A], [`sha-${A}`]],
    ['no pr or sha rule: nothing to remove', 'type=raw,value=edge', '', [A], []],
    ['no commit known: pr-N only, never the run sha (the merge commit on main)', '', '', [], ['pr-7']],
  ])('%s', (_name, tags, flavor, shas, expected) => {
    expect(previewTags(inputs(tags, flavor), ctx, 7, shas, opts)).toEqual(expected);
  });
});
