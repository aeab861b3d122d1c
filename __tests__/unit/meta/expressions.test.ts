import { describe, expect, it } from '@jest/globals';
import { ctxFor, expectInputError, run, type CtxOptions } from './helpers.js';

/** Render a template through a custom label, where values are not sanitised. */
function label(template: string, event = 'push', ref = 'refs/heads/master', o: CtxOptions = {}): string {
  const meta = run({ labels: `x=${template}` }, ctxFor(event, ref, o));
  return meta.labels.x;
}

describe('global expressions', () => {
  it.each([
    ['branch on a branch, kept raw', '{{branch}}', 'push', 'refs/heads/my/feature', {}, 'my/feature'],
    ['branch on a tag is empty', '{{branch}}', 'push', 'refs/tags/v1.0.0', {}, ''],
    ['branch on a PR is empty', '{{branch}}', 'pull_request', 'refs/pull/2/merge', {}, ''],
    ['tag on a tag', '{{tag}}', 'push', 'refs/tags/v1.0.0', {}, 'v1.0.0'],
    ['tag on a branch is empty', '{{tag}}', 'push', 'refs/heads/master', {}, ''],
    ['sha is short', '{{sha}}', 'push', 'refs/heads/master', {}, '860c190'],
    [
      'base_ref on a tag from the payload',
      '{{base_ref}}',
      'push',
      'refs/tags/v1.0.0',
      { payload: { base_ref: 'refs/heads/master' } },
      'master',
    ],
    ['base_ref on a tag without payload base_ref', '{{base_ref}}', 'push', 'refs/tags/v1.0.0', {}, ''],
    [
      'base_ref on a tag with null base_ref',
      '{{base_ref}}',
      'push',
      'refs/tags/v1.0.0',
      { payload: { base_ref: null } },
      '',
    ],
    ['base_ref on a release is empty', '{{base_ref}}', 'release', 'refs/tags/v1.0.0', {}, ''],
    [
      'base_ref on a PR',
      '{{base_ref}}',
      'pull_request',
      'refs/pull/2/merge',
      { payload: { pull_request: { base: { ref: 'main' } } } },
      'main',
    ],
    [
      'base_ref on a branch is empty',
      '{{base_ref}}',
      'push',
      'refs/heads/dev',
      { payload: { base_ref: 'refs/heads/master' } },
      '',
    ],
    [
      'is_default_branch on the default branch',
      '{{is_default_branch}}',
      'push',
      'refs/heads/master',
      {},
      'true',
    ],
    ['is_default_branch on another branch', '{{is_default_branch}}', 'push', 'refs/heads/dev', {}, 'false'],
    ['is_default_branch on a tag push', '{{is_default_branch}}', 'push', 'refs/tags/v1.0.0', {}, 'false'],
    ['is_default_branch on a PR', '{{is_default_branch}}', 'pull_request', 'refs/pull/2/merge', {}, 'false'],
    [
      'is_default_branch forced on schedule',
      '{{is_default_branch}}',
      'schedule',
      'refs/heads/dev',
      {},
      'true',
    ],
    ['is_default_branch forced on create', '{{is_default_branch}}', 'create', 'refs/tags/v1.0.0', {}, 'true'],
    ['is_default_branch forced on issues', '{{is_default_branch}}', 'issues', 'refs/heads/dev', {}, 'true'],
    [
      'is_default_branch forced on discussion',
      '{{is_default_branch}}',
      'discussion_comment',
      'refs/heads/dev',
      {},
      'true',
    ],
    [
      'is_default_branch without a payload repository',
      '{{is_default_branch}}',
      'push',
      'refs/heads/master',
      { noRepo: true },
      'false',
    ],
    ['is_default_branch with an empty ref', '{{is_default_branch}}', 'schedule', '', {}, 'false'],
    ['is_not_default_branch negates', '{{is_not_default_branch}}', 'push', 'refs/heads/dev', {}, 'true'],
    ['unknown names render empty', 'a{{nope}}b', 'push', 'refs/heads/dev', {}, 'ab'],
    ['results are HTML-escaped', '{{branch}}', 'push', 'refs/heads/a=b&c', {}, 'a&#x3D;b&amp;c'],
    ['triple braces are not escaped', '{{{branch}}}', 'push', 'refs/heads/a=b', {}, 'a=b'],
  ])('%s', (_name, template, event, ref, o, expected) => {
    expect(label(template, event, ref, o as CtxOptions)).toBe(expected);
  });

  it('sha honours DOCKER_METADATA_SHORT_SHA_LENGTH', () => {
    const meta = run({ labels: 'x={{sha}}' }, ctxFor('push', 'refs/heads/dev'), {
      DOCKER_METADATA_SHORT_SHA_LENGTH: '10',
    });
    expect(meta.labels.x).toBe('860c1904a1');
  });
});

describe('{{date}} and {{commit_date}} (moment format)', () => {
  const commit = {
    payload: {
      head_commit: { id: '860c1904a1ce19322e91ac35af1ab07466440c37', timestamp: '2019-12-26T22:45:15+01:00' },
    },
  };
  it.each([
    ["{{date 'YYYYMMDD'}}", '20200110'],
    ["{{date 'YYYY-MM-DD'}}", '2020-01-10'],
    ["{{date 'YYYYMMDD-hhmmss'}}", '20200110-123000'],
    ["{{date 'YYYYMMDD-HHmmss'}}", '20200110-003000'],
    ["{{date 'YYYY-MM-DDTHH:mm:ssZ'}}", '2020-01-10T00:30:00+00:00'],
    ["{{date 'YYYY-MM-DD HH:mm ZZ' tz='Asia/Tokyo'}}", '2020-01-10 09:30 +0900'],
    ["{{date 'YYYY-MM-DD HH:mm Z z' tz='America/New_York'}}", '2020-01-09 19:30 -05:00 EST'],
    ["{{date 'HH:mm Z' tz='Asia/Kolkata'}}", '06:00 +05:30'],
    ["{{date '[build-]YYYY[.]M'}}", 'build-2020.1'],
    ["{{date 'SSS X x'}}", '000 1578616200 1578616200000'],
    ["{{date 'Do MMM MMMM dddd ddd dd d E'}}", '10th Jan January Friday Fri Fr 5 5'],
    ["{{date 'Q DDD DDDD W WW w GGGG gggg'}}", '1 10 010 2 02 2 2020 2020'],
    ["{{date 'h A a k YY'}}", '12 AM am 24 20'],
    ["{{date 'LL'}}", 'January 10, 2020'],
    ["{{date 'LT'}}", '12:30 AM'],
    ['{{date "YYYY"}}', '2020'],
    ["{{date 'YYYY' tz='UTC'}}", '2020'],
    ['{{date YYYY-MM-DD}}', '2020-01-10T00:30:00Z'],
    ["{{date ''}}", '2020-01-10T00:30:00Z'],
    ["{{date YYYY tz='Asia/Tokyo'}}", '2020-01-10T09:30:00+09:00'],
    ["{{commit_date 'YYYY-MM-DD HH:mm:ss'}}", '2019-12-26 21:45:15'],
    ["{{commit_date 'YYYY-MM-DD HH:mm:ss' tz='Europe/Paris'}}", '2019-12-26 22:45:15'],
    ['{{commit_date YYYY-MM-DD}}', '2019-12-26T21:45:15Z'],
  ])('%s → %s', (template, expected) => {
    expect(label(template, 'push', 'refs/heads/master', commit)).toBe(expected);
  });

  it.each([
    ["{{date 'GGGG-[W]WW'}}", '2021-01-01T12:00:00Z', '2020-W53'],
    ["{{date 'gggg-ww'}}", '2021-01-01T12:00:00Z', '2021-01'],
    ["{{date 'YYYY-MM-DD'}}", '2021-01-01T12:00:00Z', '2021-01-01'],
    ["{{date 'YYYY-MM-DD' tz='Pacific/Kiritimati'}}", '2021-01-01T12:00:00Z', '2021-01-02'],
  ])('%s at %s → %s', (template, at, expected) => {
    const epoch = String(Date.parse(at) / 1000);
    expect(label(template, 'push', 'refs/heads/master', { env: { SOURCE_DATE_EPOCH: epoch } })).toBe(
      expected,
    );
  });

  it.each([
    ["x={{date 'YYYY' tz='Mars/Olympus'}}", /unknown time zone/],
    ["x={{date 'YYYY' foo='bar'}}", /Unknown foo attribute/],
    ['x={{date}}', /needs a format/],
    ["x={{commit_date 'YYYY' tz=1}}", /tz/],
    ["x={{nope 'a'}}", /Missing helper/],
    ['x={{branch', /Parse error/],
  ])('%s is an input error naming the line', (line, reason) => {
    expectInputError(() => run({ labels: line }, ctxFor('push', 'refs/heads/dev')), 'labels', line, reason);
  });

  it('a bad expression in a tag rule names the tags input and the rule line', () => {
    const line = "type=raw,value={{date 'YYYY' tz='Nowhere/Else'}}";
    expectInputError(
      () => run({ tags: line }, ctxFor('push', 'refs/heads/dev')),
      'tags',
      line,
      /Nowhere\/Else/,
    );
  });

  it('a bad expression in the flavor names the flavor input', () => {
    const line = "prefix={{date 'YYYY' tz='Nowhere/Else'}}-";
    expectInputError(
      () => run({ tags: 'type=raw,value=x', flavor: line }, ctxFor('push', 'refs/heads/dev')),
      'flavor',
      line,
    );
  });
});
