import { describe, expect, it } from '@jest/globals';
import { ctxFor, REPO, run, SHA } from './helpers.js';

const OCI = {
  'org.opencontainers.image.created': '2020-01-10T00:30:00.000Z',
  'org.opencontainers.image.description': 'This your first repo!',
  'org.opencontainers.image.licenses': 'MIT',
  'org.opencontainers.image.revision': SHA,
  'org.opencontainers.image.source': 'https://github.com/octocat/Hello-World',
  'org.opencontainers.image.title': 'Hello-World',
  'org.opencontainers.image.url': 'https://github.com/octocat/Hello-World',
  'org.opencontainers.image.version': '1.2.3',
};
const tagPush = () => ctxFor('push', 'refs/tags/v1.2.3');
const TAGS = 'type=semver,pattern={{version}}';

describe('OCI labels', () => {
  it('generates the eight keys, sorted by key', () => {
    const meta = run({ tags: TAGS }, tagPush());
    expect(meta.labels).toEqual(OCI);
    expect(Object.keys(meta.labels)).toEqual(Object.keys(OCI));
    expect(meta.outputs.labels).toBe(
      Object.entries(OCI)
        .map(([k, v]) => `${k}=${v}`)
        .join('\n'),
    );
  });

  it('version is empty when no tag was produced', () => {
    const meta = run({ tags: 'type=ref,event=pr' }, tagPush());
    expect(meta.labels['org.opencontainers.image.version']).toBe('');
  });

  it('falls back to the server URL and repository name without a payload repository', () => {
    const ctx = ctxFor('push', 'refs/tags/v1.2.3', {
      noRepo: true,
      env: { GITHUB_SERVER_URL: 'https://ghe.example.com' },
    });
    const meta = run({ tags: TAGS }, ctx);
    expect(meta.labels).toEqual({
      ...OCI,
      'org.opencontainers.image.description': '',
      'org.opencontainers.image.licenses': '',
      'org.opencontainers.image.source': 'https://ghe.example.com/octocat/Hello-World',
      'org.opencontainers.image.url': 'https://ghe.example.com/octocat/Hello-World',
    });
  });

  it('null description and license render empty', () => {
    const ctx = ctxFor('push', 'refs/tags/v1.2.3', {
      payload: { repository: { ...REPO, description: null, license: null } },
    });
    const meta = run({ tags: TAGS }, ctx);
    expect(meta.labels['org.opencontainers.image.description']).toBe('');
    expect(meta.labels['org.opencontainers.image.licenses']).toBe('');
  });

  it.each([
    [
      'a custom value overrides a generated one',
      'org.opencontainers.image.title=MyTitle',
      { 'org.opencontainers.image.title': 'MyTitle' },
    ],
    ['values may contain =', 'foo=bar=baz', { foo: 'bar=baz' }],
    ['# inside a line is kept', 'mylabel=foo#bar', { mylabel: 'foo#bar' }],
    ['an empty value is kept', 'empty=', { empty: '' }],
    ['a later line wins', 'a=1\na=2', { a: '2' }],
    [
      'expressions are expanded (not sanitised)',
      'ref={{tag}}\nsha={{sha}}',
      { ref: 'v1.2.3', sha: '860c190' },
    ],
    ['quotes are consumed by the list reader', 'q="a b"', { q: '"a b"' }],
  ])('%s', (_name, labels, extra) => {
    const meta = run({ tags: TAGS, labels }, tagPush());
    expect(meta.labels).toEqual({ ...OCI, ...extra });
    const keys = Object.keys(meta.labels);
    expect(keys).toEqual([...keys].sort((a, b) => a.localeCompare(b)));
  });

  it('comment lines and lines without = are dropped', () => {
    const meta = run({ tags: TAGS, labels: '# a comment\nnoequals\n\nz=1' }, tagPush());
    expect(meta.labels).toEqual({ ...OCI, z: '1' });
  });

  it('joins the labels output with sep-labels', () => {
    const meta = run({ tags: TAGS, labels: 'a=1', sepLabels: ',' }, tagPush());
    expect(meta.outputs.labels.split(',')[0]).toBe('a=1');
    expect(meta.outputs.labels.split(',')).toHaveLength(9);
  });
});

describe('annotations', () => {
  const lines = (level: string, extra: Record<string, string> = {}) =>
    Object.entries({ ...OCI, ...extra })
      .sort((a, b) => a[0].localeCompare(b[0]))
      .map(([k, v]) => `${level}:${k}=${v}`);

  it('default level is manifest', () => {
    expect(run({ tags: TAGS }, tagPush()).annotations).toEqual(lines('manifest'));
  });

  it('every entry of the first level, then the next', () => {
    const meta = run({ tags: TAGS }, tagPush(), { DOCKER_METADATA_ANNOTATIONS_LEVELS: 'manifest,index' });
    expect(meta.annotations).toEqual([...lines('manifest'), ...lines('index')]);
  });

  it('annotations and labels come from their own inputs', () => {
    const meta = run({ tags: TAGS, labels: 'l=1', annotations: 'a={{branch}}x' }, tagPush());
    expect(meta.annotations).toEqual(lines('manifest', { a: 'x' }));
    expect(meta.labels).toEqual({ ...OCI, l: '1' });
  });

  it('joins with sep-annotations', () => {
    const meta = run({ tags: TAGS, sepAnnotations: ';' }, tagPush());
    expect(meta.outputs.annotations).toBe(lines('manifest').join(';'));
  });
});

describe('json output', () => {
  it('has tags, tag-names, labels and annotations', () => {
    const meta = run({ images: 'user/app', tags: TAGS }, tagPush(), {
      DOCKER_METADATA_ANNOTATIONS_LEVELS: 'index',
    });
    const expected = {
      tags: ['user/app:1.2.3', 'user/app:latest'],
      'tag-names': ['1.2.3', 'latest'],
      labels: OCI,
      annotations: Object.entries(OCI).map(([k, v]) => `index:${k}=${v}`),
    };
    expect(meta.json).toEqual(expected);
    expect(Object.keys(meta.json)).toEqual(['tags', 'tag-names', 'labels', 'annotations']);
    expect(meta.outputs.json).toBe(JSON.stringify(expected, null, 2));
    expect(meta.images).toEqual(['user/app']);
  });
});
