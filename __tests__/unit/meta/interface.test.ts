import { describe, expect, it } from '@jest/globals';
import { DEFAULT_TAG_RULES } from '../../../src/meta/index.js';
import { ctxFor, run, SHORT } from './helpers.js';

const main = { repository: { name: 'api', html_url: 'https://github.com/acme/api', default_branch: 'main' } };

describe('INTERFACE.md default tags', () => {
  it('are the documented rule lines', () => {
    expect(DEFAULT_TAG_RULES.split('\n')).toEqual([
      'type=schedule',
      'type=semver,pattern={{version}}',
      'type=semver,pattern={{major}}.{{minor}}',
      'type=ref,event=branch',
      'type=ref,event=pr',
      'type=sha',
      'type=raw,value=latest,enable={{is_default_branch}}',
    ]);
  });

  it.each([
    ['release tag v1.2.3', 'push', 'refs/tags/v1.2.3', {}, ['1.2.3', '1.2', SHORT, 'latest'], '1.2.3', true],
    [
      'release event v1.2.3',
      'release',
      'refs/tags/v1.2.3',
      {},
      ['1.2.3', '1.2', SHORT, 'latest'],
      '1.2.3',
      true,
    ],
    ['pre-release tag', 'push', 'refs/tags/v2.0.0-rc.1', {}, ['2.0.0-rc.1', SHORT], '2.0.0-rc.1', false],
    ['push to the default branch', 'push', 'refs/heads/main', {}, ['main', 'latest', SHORT], 'main', false],
    ['push to another branch', 'push', 'refs/heads/feature/x', {}, ['feature-x', SHORT], 'feature-x', false],
    ['pull request 1247', 'pull_request', 'refs/pull/1247/merge', {}, ['pr-1247', SHORT], 'pr-1247', false],
    [
      'pull_request_target 1247',
      'pull_request_target',
      'refs/heads/main',
      { number: 1247 },
      ['pr-1247', SHORT],
      'pr-1247',
      false,
    ],
    [
      'nightly schedule on main',
      'schedule',
      'refs/heads/main',
      {},
      ['nightly', 'main', 'latest', SHORT],
      'nightly',
      false,
    ],
    [
      'workflow_dispatch on main',
      'workflow_dispatch',
      'refs/heads/main',
      {},
      ['main', 'latest', SHORT],
      'main',
      false,
    ],
  ])('%s', (_name, event, ref, payload, expected, version, latest) => {
    const ctx = ctxFor(event, ref, { payload: { ...main, ...payload } });
    const meta = run({ images: 'ghcr.io/acme/api', tags: '' }, ctx);
    expect(meta.tagNames).toEqual(expected);
    expect(meta.tags).toEqual(expected.map((t) => `ghcr.io/acme/api:${t}`));
    expect(meta.version).toBe(version);
    expect(meta.latest).toBe(latest);
  });

  it('flavor and labels still apply with default rules', () => {
    const meta = run(
      { images: 'acme/api', tags: '  ', flavor: 'suffix=-alpine', labels: 'team=core' },
      ctxFor('push', 'refs/tags/v1.2.3', { payload: main }),
    );
    expect(meta.tagNames).toEqual(['1.2.3-alpine', '1.2-alpine', `${SHORT}-alpine`, 'latest']);
    expect(meta.labels.team).toBe('core');
    expect(meta.labels['org.opencontainers.image.title']).toBe('api');
  });
});
