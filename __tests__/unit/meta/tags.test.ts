import { describe, expect, it } from '@jest/globals';
import { ctxFor, run, SHA, SHORT, type CtxOptions } from './helpers.js';

const UPSTREAM_DEFAULT = 'type=schedule\ntype=ref,event=branch\ntype=ref,event=tag\ntype=ref,event=pr';
const SEMVER =
  'type=semver,pattern={{version}}\ntype=semver,pattern={{major}}.{{minor}}\ntype=semver,pattern={{major}}';
const PEP440 =
  'type=pep440,pattern={{version}}\ntype=pep440,pattern={{major}}.{{minor}}\ntype=pep440,pattern={{major}}';

interface Row {
  name: string;
  event: string;
  ref: string;
  tags: string;
  flavor?: string;
  ctx?: CtxOptions;
  env?: Record<string, string>;
  expected: string[];
}

const push = (ref: string) => ({ event: 'push', ref });

// Expected tag names in output order (no images: bare tags). Version = first entry, or '' when none.
const rows: Row[] = [
  // ref rules (metadata-action's own default rule set)
  { name: 'ref branch: branch name', ...push('refs/heads/dev'), tags: UPSTREAM_DEFAULT, expected: ['dev'] },
  {
    name: 'ref branch on the default branch gets no automatic latest',
    ...push('refs/heads/master'),
    tags: UPSTREAM_DEFAULT,
    expected: ['master'],
  },
  {
    name: 'ref branch: my/feature#1245 is sanitised',
    ...push('refs/heads/my/feature#1245'),
    tags: UPSTREAM_DEFAULT,
    expected: ['my-feature-1245'],
  },
  {
    name: 'ref tag keeps the leading v and adds latest',
    ...push('refs/tags/v1.1.1'),
    tags: UPSTREAM_DEFAULT,
    expected: ['v1.1.1', 'latest'],
  },
  {
    name: 'ref tag adds latest even on a pre-release',
    ...push('refs/tags/v2.0.8-beta.67'),
    tags: UPSTREAM_DEFAULT,
    expected: ['v2.0.8-beta.67', 'latest'],
  },
  {
    name: 'ref tag on any tag name',
    ...push('refs/tags/sometag'),
    tags: UPSTREAM_DEFAULT,
    expected: ['sometag', 'latest'],
  },
  {
    name: 'ref pr: pr-<number>',
    event: 'pull_request',
    ref: 'refs/pull/15/merge',
    tags: UPSTREAM_DEFAULT,
    expected: ['pr-15'],
  },
  {
    name: 'ref pr with an empty prefix gives the bare number, no flavor prefix',
    event: 'pull_request',
    ref: 'refs/pull/15/merge',
    tags: 'type=ref,event=pr,prefix=',
    flavor: 'prefix=foo-',
    expected: ['15'],
  },
  {
    name: 'ref pr: flavor suffix still applies',
    event: 'pull_request',
    ref: 'refs/pull/15/merge',
    tags: 'type=ref,event=pr',
    flavor: 'prefix=foo-\nsuffix=-bar',
    expected: ['pr-15-bar'],
  },
  {
    name: 'pull_request_target: ref rewritten to the PR, branch rule does not fire',
    event: 'pull_request_target',
    ref: 'refs/heads/master',
    tags: UPSTREAM_DEFAULT,
    ctx: { payload: { number: 42 } },
    expected: ['pr-42'],
  },
  {
    name: 'release event: tag rules fire',
    event: 'release',
    ref: 'refs/tags/v1.0.0',
    tags: 'type=semver,pattern={{version}}',
    expected: ['1.0.0', 'latest'],
  },
  {
    name: 'workflow_dispatch behaves by its ref',
    event: 'workflow_dispatch',
    ref: 'refs/heads/master',
    tags: UPSTREAM_DEFAULT,
    expected: ['master'],
  },
  {
    name: 'create event on a tag: is_default_branch is true',
    event: 'create',
    ref: 'refs/tags/v1.0.0',
    tags: 'type=semver,pattern={{version}}\ntype=raw,value=stable,enable={{is_default_branch}}',
    expected: ['1.0.0', 'stable', 'latest'],
  },
  // semver
  {
    name: 'semver: version, major.minor, major and latest on a final release',
    ...push('refs/tags/v1.2.3'),
    tags: SEMVER,
    expected: ['1.2.3', '1.2', '1', 'latest'],
  },
  {
    name: 'semver: raw, v-major and full pattern',
    ...push('refs/tags/v1.2.3'),
    tags: 'type=semver,pattern={{raw}}\ntype=semver,pattern=v{{major}}\ntype=semver,pattern={{major}}.{{minor}}.{{patch}}',
    expected: ['v1.2.3', 'v1', '1.2.3', 'latest'],
  },
  {
    name: 'semver pre-release: every pattern collapses to the version, no latest',
    ...push('refs/tags/v2.0.8-beta.67'),
    tags: `${SEMVER}\ntype=semver,pattern=v{{major}}`,
    expected: ['2.0.8-beta.67'],
  },
  {
    name: 'semver pre-release: exactly {{raw}} survives (spaces allowed)',
    ...push('refs/tags/v2.0.8-beta.67'),
    tags: 'type=semver,pattern={{ raw }}\ntype=semver,pattern={{raw}}-x\ntype=semver,pattern={{version}}',
    expected: ['v2.0.8-beta.67', '2.0.8-beta.67'],
  },
  {
    name: 'semver: build metadata dropped by version, kept (sanitised) by raw',
    ...push('refs/tags/v1.2.3+build.7'),
    tags: 'type=semver,pattern={{version}}\ntype=semver,pattern={{raw}}',
    expected: ['1.2.3', 'v1.2.3-build.7', 'latest'],
  },
  {
    name: 'semver: two components is invalid and yields nothing',
    ...push('refs/tags/v1.2'),
    tags: `${SEMVER}\ntype=sha`,
    expected: [SHORT],
  },
  {
    name: 'semver: no tag ref and no value: nothing',
    ...push('refs/heads/master'),
    tags: SEMVER,
    expected: [],
  },
  {
    name: 'semver: value lets it run on a branch',
    ...push('refs/heads/master'),
    tags: 'type=semver,pattern={{version}},value=v3.4.5',
    expected: ['3.4.5', 'latest'],
  },
  {
    name: 'semver: value is expanded with global expressions',
    ...push('refs/heads/1.0.0'),
    tags: 'type=semver,pattern={{major}}.{{minor}},value={{branch}}',
    expected: ['1.0', 'latest'],
  },
  {
    name: 'semver: match cuts the version with capture group 1',
    ...push('refs/tags/p1/v1.2.3'),
    tags: 'type=semver,pattern={{version}},match=p1/v(\\d.\\d.\\d)$',
    expected: ['1.2.3', 'latest'],
  },
  {
    name: 'semver: slash becomes dash before validation (invalid here)',
    ...push('refs/tags/p1/v1.2.3'),
    tags: 'type=semver,pattern={{version}}',
    expected: [],
  },
  {
    name: 'semver: a match that fails keeps the uncut version',
    ...push('refs/tags/v1.2.3'),
    tags: 'type=semver,pattern={{version}},match=^x(\\d)',
    expected: ['1.2.3', 'latest'],
  },
  // pep440
  {
    name: 'pep440: final release gets all patterns and latest',
    ...push('refs/tags/v1.1.1'),
    tags: PEP440,
    expected: ['1.1.1', '1.1', '1', 'latest'],
  },
  {
    name: 'pep440: missing parts are 0',
    ...push('refs/tags/1.0'),
    tags: 'type=pep440,pattern={{major}}.{{minor}}.{{patch}}\ntype=pep440,pattern={{raw}}',
    expected: ['1.0.0', '1.0', 'latest'],
  },
  { name: 'pep440: rc pre-release', ...push('refs/tags/1.2.3rc2'), tags: PEP440, expected: ['1.2.3rc2'] },
  { name: 'pep440: beta normalised', ...push('refs/tags/1.1beta2'), tags: PEP440, expected: ['1.1b2'] },
  {
    name: 'pep440: dev release normalised',
    ...push('refs/tags/1.0dev4'),
    tags: PEP440,
    expected: ['1.0.dev4'],
  },
  {
    name: 'pep440: post release, no latest',
    ...push('refs/tags/1.2post1'),
    tags: PEP440,
    expected: ['1.2.post1'],
  },
  {
    name: 'pep440: pre-release with exactly {{raw}} keeps the raw text',
    ...push('refs/tags/v1.2.3rc2'),
    tags: 'type=pep440,pattern={{raw}}\ntype=pep440,pattern={{version}}',
    expected: ['v1.2.3rc2', '1.2.3rc2'],
  },
  { name: 'pep440: invalid version yields nothing', ...push('refs/tags/foo'), tags: PEP440, expected: [] },
  {
    name: 'pep440: value on a branch',
    ...push('refs/heads/master'),
    tags: 'type=pep440,pattern={{version}},value=2.0',
    expected: ['2.0', 'latest'],
  },
  // match
  {
    name: 'match: whole match (group 0) and latest',
    ...push('refs/tags/v1.2.3'),
    tags: 'type=match,pattern=\\d.\\d.\\d',
    expected: ['1.2.3', 'latest'],
  },
  {
    name: 'match: capture group',
    ...push('refs/tags/v1.2.3'),
    tags: 'type=match,pattern=v(\\d.\\d),group=1',
    expected: ['1.2', 'latest'],
  },
  {
    name: 'match: /re/flags form',
    ...push('refs/tags/V1.2.3'),
    tags: 'type=match,pattern=/^v(\\d.\\d.\\d)$/i,group=1',
    expected: ['1.2.3', 'latest'],
  },
  {
    name: 'match: with the g flag groups are lost (whole matches only)',
    ...push('refs/tags/v1.2.3'),
    tags: 'type=match,pattern=/^v(\\d.\\d.\\d)$/ig\ntype=match,pattern=/^v(\\d.\\d.\\d)$/ig,group=1',
    expected: ['v1.2.3', 'latest'],
  },
  {
    name: 'match: latest even on a pre-release',
    ...push('refs/tags/v2.0.8-beta.67'),
    tags: 'type=match,pattern=\\d.\\d.\\d',
    expected: ['2.0.8', 'latest'],
  },
  {
    name: 'match: no match or missing group silently yields nothing',
    ...push('refs/tags/v1.2.3'),
    tags: 'type=match,pattern=^x\ntype=match,pattern=v(\\d),group=2\ntype=sha',
    expected: [SHORT],
  },
  {
    name: 'match: value lets it run on a branch',
    ...push('refs/heads/master'),
    tags: 'type=match,pattern=\\d.\\d,value=ver-3.4-x',
    expected: ['3.4', 'latest'],
  },
  {
    name: 'match: quoted field keeps the pattern intact',
    ...push('refs/tags/v1.2.3'),
    tags: 'type=match,"pattern=\\d.\\d.\\d"',
    expected: ['1.2.3', 'latest'],
  },
  // edge
  {
    name: 'edge: default branch from the repository record',
    ...push('refs/heads/master'),
    tags: 'type=edge',
    expected: ['edge'],
  },
  { name: 'edge: other branch, nothing', ...push('refs/heads/dev'), tags: 'type=edge', expected: [] },
  {
    name: 'edge: explicit branch',
    ...push('refs/heads/dev'),
    tags: 'type=edge,branch=dev',
    expected: ['edge'],
  },
  {
    name: 'edge: without a repository record it never fires',
    ...push('refs/heads/master'),
    tags: 'type=edge\ntype=ref,event=branch',
    ctx: { noRepo: true },
    expected: ['master'],
  },
  { name: 'edge: not on tags', ...push('refs/tags/v1.0.0'), tags: 'type=edge,branch=master', expected: [] },
  // raw
  { name: 'raw: value', ...push('refs/heads/dev'), tags: 'type=raw,value=foo', expected: ['foo'] },
  {
    name: 'raw: bare line is a raw value',
    ...push('refs/heads/dev'),
    tags: 'foo\nbar',
    expected: ['foo', 'bar'],
  },
  {
    name: 'raw: field without = is the value',
    ...push('refs/heads/dev'),
    tags: 'type=raw,foo',
    expected: ['foo'],
  },
  {
    name: 'raw: value split on the first = only',
    ...push('refs/heads/dev'),
    tags: 'type=raw,value=a=b',
    expected: ['a-b'],
  },
  {
    name: 'raw: keys are case-insensitive and trimmed',
    ...push('refs/heads/dev'),
    tags: 'type=raw, VALUE = foo ',
    expected: ['foo'],
  },
  {
    name: 'raw: {{branch}} on a PR is empty but flavor prefix still makes a tag',
    event: 'pull_request',
    ref: 'refs/pull/3/merge',
    tags: 'type=raw,value={{branch}}',
    flavor: 'prefix=x',
    expected: ['x'],
  },
  {
    name: 'raw: empty value is dropped',
    event: 'pull_request',
    ref: 'refs/pull/3/merge',
    tags: 'type=raw,value={{branch}}\ntype=ref,event=pr',
    expected: ['pr-3'],
  },
  {
    name: 'raw: HTML escaping of expansions shows up in the tag',
    ...push('refs/heads/a=b'),
    tags: 'type=raw,value={{branch}}',
    expected: ['a-x3D-b'],
  },
  {
    name: 'raw: duplicates are removed, main is not repeated',
    ...push('refs/heads/dev'),
    tags: 'type=raw,value=a\ntype=raw,value=b\ntype=raw,value=a\ntype=raw,value=b',
    expected: ['a', 'b'],
  },
  // sha
  { name: 'sha: short by default', ...push('refs/heads/dev'), tags: 'type=sha', expected: [SHORT] },
  { name: 'sha: long', ...push('refs/heads/dev'), tags: 'type=sha,format=long', expected: [`sha-${SHA}`] },
  { name: 'sha: empty prefix', ...push('refs/heads/dev'), tags: 'type=sha,prefix=', expected: ['860c190'] },
  {
    name: 'sha: flavor prefix never applies, suffix does',
    ...push('refs/heads/dev'),
    tags: 'type=sha',
    flavor: 'prefix=p-\nsuffix=-s',
    expected: [`${SHORT}-s`],
  },
  {
    name: 'sha: DOCKER_METADATA_SHORT_SHA_LENGTH',
    ...push('refs/heads/dev'),
    tags: 'type=sha',
    env: { DOCKER_METADATA_SHORT_SHA_LENGTH: '12' },
    expected: ['sha-860c1904a1ce'],
  },
  {
    name: 'sha: a length beyond the SHA gives the full SHA',
    ...push('refs/heads/dev'),
    tags: 'type=sha',
    env: { DOCKER_METADATA_SHORT_SHA_LENGTH: '100' },
    expected: [`sha-${SHA}`],
  },
  {
    name: 'sha: no SHA, no tag',
    ...push('refs/heads/dev'),
    tags: 'type=sha',
    ctx: { sha: '' },
    expected: [],
  },
  // schedule
  {
    name: 'schedule: nightly by default',
    event: 'schedule',
    ref: 'refs/heads/master',
    tags: 'type=schedule',
    expected: ['nightly'],
  },
  {
    name: 'schedule: date pattern',
    event: 'schedule',
    ref: 'refs/heads/master',
    tags: "type=schedule,pattern={{date 'YYYYMMDD'}}",
    expected: ['20200110'],
  },
  {
    name: 'schedule: date pattern in a time zone',
    event: 'schedule',
    ref: 'refs/heads/master',
    tags: "type=schedule,pattern={{date 'YYYYMMDD-hhmmss' tz='Asia/Tokyo'}}",
    expected: ['20200110-093000'],
  },
  {
    name: 'schedule: only date/commit_date exist inside the pattern',
    event: 'schedule',
    ref: 'refs/heads/master',
    tags: 'type=schedule,pattern=nightly-{{branch}}',
    expected: ['nightly-'],
  },
  {
    name: 'schedule: prefix gets the full global set',
    event: 'schedule',
    ref: 'refs/heads/master',
    tags: 'type=schedule,prefix={{branch}}-',
    expected: ['master-nightly'],
  },
  { name: 'schedule: not on push', ...push('refs/heads/master'), tags: 'type=schedule', expected: [] },
  {
    name: 'schedule: unquoted format prints the default ISO form',
    event: 'schedule',
    ref: 'refs/heads/master',
    tags: 'type=schedule,pattern={{commit_date YYYY-MM-DD}}',
    expected: ['2020-01-10T00-30-00Z'],
  },
  // priority and latest
  {
    name: 'priority: higher first, ties keep input order',
    ...push('refs/heads/dev'),
    tags: 'type=raw,value=a\ntype=raw,value=b,priority=2000\ntype=raw,value=c\ntype=sha,priority=200',
    expected: ['b', 'a', 'c', SHORT],
  },
  {
    name: 'latest is decided by the first producing rule: raw beats a lower semver',
    ...push('refs/tags/v1.2.3'),
    tags: 'type=raw,value=foo,priority=1000\ntype=semver,pattern={{version}}',
    expected: ['foo', '1.2.3'],
  },
  {
    name: 'latest: sha with higher priority decides',
    ...push('refs/tags/v1.2.3'),
    tags: 'type=sha,priority=1001\ntype=semver,pattern={{version}}',
    expected: [SHORT, '1.2.3'],
  },
  {
    name: 'latest=true forces latest on a branch',
    ...push('refs/heads/dev'),
    tags: 'type=ref,event=branch',
    flavor: 'latest=true',
    expected: ['dev', 'latest'],
  },
  {
    name: 'latest=false removes it on a tag',
    ...push('refs/tags/v1.2.3'),
    tags: SEMVER,
    flavor: 'latest=false',
    expected: ['1.2.3', '1.2', '1'],
  },
  {
    name: 'latest=true on a pre-release',
    ...push('refs/tags/v2.0.8-beta.67'),
    tags: SEMVER,
    flavor: 'latest=true',
    expected: ['2.0.8-beta.67', 'latest'],
  },
  {
    name: 'duplicate latest quirk: a raw latest rule plus auto latest',
    ...push('refs/tags/v1.2.3'),
    tags: 'type=semver,pattern={{version}}\ntype=raw,value=latest',
    expected: ['1.2.3', 'latest', 'latest'],
  },
  // enable
  {
    name: 'enable=false skips the rule',
    ...push('refs/heads/dev'),
    tags: 'type=raw,value=a,enable=false\ntype=raw,value=b',
    expected: ['b'],
  },
  {
    name: 'enable from an expression',
    ...push('refs/heads/master'),
    tags: 'type=raw,value=latest,enable={{is_default_branch}}\ntype=raw,value=dev,enable={{is_not_default_branch}}',
    expected: ['latest'],
  },
  // prefix / suffix precedence
  {
    name: 'flavor prefix and suffix on rule values; latest plain without onlatest',
    ...push('refs/tags/v1.2.3'),
    tags: 'type=semver,pattern={{version}}\ntype=sha',
    flavor: 'prefix=foo-\nsuffix=-bar',
    expected: ['foo-1.2.3-bar', `${SHORT}-bar`, 'latest'],
  },
  {
    name: 'onlatest puts the flavor prefix/suffix on latest',
    ...push('refs/tags/v1.2.3'),
    tags: 'type=semver,pattern={{version}}',
    flavor: 'prefix=foo-,onlatest=true\nsuffix=-dev,onlatest=true',
    expected: ['foo-1.2.3-dev', 'foo-latest-dev'],
  },
  {
    name: 'onlatest applies only to the key named before it on the line',
    ...push('refs/tags/v1.2.3'),
    tags: 'type=semver,pattern={{version}}',
    flavor: 'prefix=foo-\nsuffix=-dev,onlatest=true',
    expected: ['foo-1.2.3-dev', 'latest-dev'],
  },
  {
    name: 'a rule prefix/suffix (even empty) replaces the flavor one',
    ...push('refs/heads/dev'),
    tags: 'type=raw,value=a,prefix=\ntype=raw,value=b,suffix=-s\ntype=raw,value=c',
    flavor: 'prefix=p-\nsuffix=-x',
    expected: ['a-x', 'p-b-s', 'p-c-x'],
  },
  {
    name: 'flavor prefix is expanded with global expressions',
    ...push('refs/heads/dev'),
    tags: 'type=raw,value=foo',
    flavor: 'prefix={{branch}}-',
    expected: ['dev-foo'],
  },
  {
    name: 'rule prefix is expanded with global expressions',
    ...push('refs/heads/dev'),
    tags: 'type=sha,prefix={{branch}}-',
    expected: ['dev-860c190'],
  },
  {
    name: 'flavor prefix of spaces trims to empty',
    ...push('refs/heads/dev'),
    tags: 'type=raw,value=foo',
    flavor: 'prefix=  ',
    expected: ['foo'],
  },
  {
    name: 'flavor value stops at a second =',
    ...push('refs/heads/dev'),
    tags: 'type=raw,value=foo',
    flavor: 'prefix=a=b',
    expected: ['afoo'],
  },
];

describe('tag rules produce the exact tag list', () => {
  it.each(rows)('$name', (row) => {
    const meta = run(
      { tags: row.tags, flavor: row.flavor ?? '' },
      ctxFor(row.event, row.ref, row.ctx),
      row.env,
    );
    expect(meta.tagNames).toEqual(row.expected);
    expect(meta.tags).toEqual(row.expected);
    expect(meta.version).toBe(row.expected[0] ?? '');
    expect(meta.outputs.version).toBe(row.expected[0] ?? '');
    const latestTag = row.expected.length > 0 ? row.expected[row.expected.length - 1] : '';
    expect(meta.latest).toBe(/latest/.test(latestTag) && meta.latestTag === latestTag);
  });
});

describe('warnings', () => {
  it.each([
    ['invalid semver', 'refs/tags/v1.2', 'type=semver,pattern={{version}}', /v1\.2 is not a valid semver/],
    ['invalid pep440', 'refs/tags/foo', 'type=pep440,pattern={{version}}', /foo does not conform to PEP 440/],
    ['match does not match', 'refs/tags/v1', 'type=match,pattern=^x', /\^x does not match v1/],
    ['missing match group', 'refs/tags/v1', 'type=match,pattern=v(\\d),group=2', /Group 2 does not exist/],
    [
      'semver match= does not match',
      'refs/tags/v1.2.3',
      'type=semver,pattern={{version}},match=^x(\\d)',
      /does not match/,
    ],
  ])('%s is a warning, not an error', (_name, ref, tags, warning) => {
    const meta = run({ tags }, ctxFor('push', ref));
    expect(meta.warnings.some((w) => warning.test(w))).toBe(true);
  });

  it('no version generated: empty outputs and a warning', () => {
    const meta = run({ tags: 'type=ref,event=tag', images: 'user/app' }, ctxFor('push', 'refs/heads/dev'));
    expect(meta.version).toBe('');
    expect(meta.tags).toEqual([]);
    expect(meta.outputs.tags).toBe('');
    expect(meta.latest).toBe(false);
    expect(meta.warnings).toContain('No Docker image version has been generated. Check tags input.');
  });

  it('a produced version gives no warnings', () => {
    expect(run({ tags: 'type=raw,value=x' }, ctxFor('push', 'refs/heads/dev')).warnings).toEqual([]);
  });
});

describe('images and tags', () => {
  it.each([
    ['no images: bare tags', '', ['1.2.3', '1.2', 'latest']],
    ['one image', 'user/app', ['user/app:1.2.3', 'user/app:1.2', 'user/app:latest']],
    [
      'tags grouped per image, input order',
      'user/app\nghcr.io/user/app',
      [
        'user/app:1.2.3',
        'user/app:1.2',
        'user/app:latest',
        'ghcr.io/user/app:1.2.3',
        'ghcr.io/user/app:1.2',
        'ghcr.io/user/app:latest',
      ],
    ],
    [
      'disabled image skipped',
      'name=user/app,enable=false\nghcr.io/user/app',
      ['ghcr.io/user/app:1.2.3', 'ghcr.io/user/app:1.2', 'ghcr.io/user/app:latest'],
    ],
    ['all images disabled: bare tags', 'name=user/app,enable=false', ['1.2.3', '1.2', 'latest']],
    ['names lower-cased', 'User/App', ['user/app:1.2.3', 'user/app:1.2', 'user/app:latest']],
  ])('%s', (_name, images, expected) => {
    const meta = run(
      { images, tags: 'type=semver,pattern={{version}}\ntype=semver,pattern={{major}}.{{minor}}' },
      ctxFor('push', 'refs/tags/v1.2.3'),
    );
    expect(meta.tags).toEqual(expected);
    expect(meta.tagNames).toEqual(['1.2.3', '1.2', 'latest']);
    expect(meta.json['tag-names']).toEqual(['1.2.3', '1.2', 'latest']);
  });

  it('joins tags and tag-names with sep-tags, whitespace kept', () => {
    const meta = run(
      { images: 'a/b\nc/d', tags: 'type=raw,value=x\ntype=raw,value=y', sepTags: ' ' },
      ctxFor('push', 'refs/heads/dev'),
    );
    expect(meta.outputs.tags).toBe('a/b:x a/b:y c/d:x c/d:y');
    expect(meta.outputs['tag-names']).toBe('x y');
  });

  it('joins with a newline by default', () => {
    const meta = run(
      { images: 'a/b', tags: 'type=raw,value=x\ntype=raw,value=y' },
      ctxFor('push', 'refs/heads/dev'),
    );
    expect(meta.outputs.tags).toBe('a/b:x\na/b:y');
  });
});

describe('semver info for "latest only moves forward"', () => {
  it.each([
    [
      'semver final release',
      'refs/tags/v1.2.3',
      'type=semver,pattern={{major}}.{{minor}}',
      { major: 1, minor: 2, patch: 3, prerelease: false, version: '1.2.3' },
    ],
    [
      'pep440 final release',
      'refs/tags/v2.5',
      'type=pep440,pattern={{version}}',
      { major: 2, minor: 5, patch: 0, prerelease: false, version: '2.5' },
    ],
    ['semver pre-release', 'refs/tags/v1.2.3-rc.1', 'type=semver,pattern={{version}}', undefined],
    [
      'main from another rule',
      'refs/tags/v1.2.3',
      'type=ref,event=tag\ntype=semver,pattern={{version}},priority=1',
      undefined,
    ],
    ['branch push', 'refs/heads/main', 'type=ref,event=branch', undefined],
  ])('%s', (_name, ref, tags, expected) => {
    expect(run({ tags }, ctxFor('push', ref)).semver).toEqual(expected);
  });
});
