import { describe, expect, it } from '@jest/globals';
import { existsSync } from 'node:fs';
import { SHA, events, fakeDocker, makeContext, repositoryRecord, runAction, type Event } from './harness.js';

/** A `docker` first in PATH that only records that it was called, and no daemon. */
function trapDocker(): { env: Record<string, string>; marker: string } {
  const docker = fakeDocker();
  // Port 9 on loopback has no listener: any registry request would fail the run.
  return {
    env: { PATH: `${docker.dir}:${process.env.PATH}`, DOCKER_HOST: 'unix:///nonexistent.sock' },
    marker: docker.marker,
  };
}

// Not run per registry kind (issue 11): a dry run sends no request to any registry, so htpasswd
// and token auth cannot differ here; the unreachable registry above proves no request is made.
const image = '127.0.0.1:9/acme/api';
const short = SHA.slice(0, 7);

const schedule: Event = {
  name: 'schedule',
  ref: 'refs/heads/main',
  payload: { repository: repositoryRecord() },
};
const prTarget: Event = {
  name: 'pull_request_target',
  ref: 'refs/heads/main',
  payload: { ...events.pr(42, true).payload },
};

// Expected values written from the metadata-action reference, not from our code.
describe('dry run: the plan and every metadata output, with no docker and no network', () => {
  it.each([
    ['a release tag', events.tag('v1.2.3'), '', '1.2.3', ['1.2.3', '1.2', `sha-${short}`, 'latest']],
    ['a push to main', events.branch('main'), '', 'main', ['main', 'latest', `sha-${short}`]],
    ['a pull request', events.pr(1247, false), '', 'pr-1247', ['pr-1247', `sha-${short}`]],
    [
      'a schedule with a nightly pattern',
      schedule,
      "type=schedule,pattern=nightly-{{date 'YYYYMMDD'}}\ntype=ref,event=branch",
      'nightly-20240131',
      ['nightly-20240131', 'main'],
    ],
    [
      'pull_request_target, rewritten to the pull request',
      prTarget,
      'type=ref,event=pr\ntype=ref,event=branch\ntype=sha',
      'pr-42',
      ['pr-42', `sha-${short}`],
    ],
  ])('%s', async (_name, event, tags, version, tagNames) => {
    const trap = trapDocker();
    const r = await runAction({
      event,
      env: { ...trap.env, SOURCE_DATE_EPOCH: '1706702400' }, // 2024-01-31T12:00:00Z
      inputs: {
        images: image,
        'dry-run': 'true',
        tags,
        registry: '127.0.0.1:9',
        username: 'u',
        password: 'p',
      },
    });
    expect(r.code).toBe(0);
    expect(existsSync(trap.marker)).toBe(false);
    expect(r.outputs.version).toBe(version);
    expect(r.outputs['tag-names'].split('\n')).toEqual(tagNames);
    expect(r.outputs.tags.split('\n')).toEqual(tagNames.map((t) => `${image}:${t}`));
    expect(r.outputs.pushed).toBe('false');
    const labels = Object.fromEntries(
      r.outputs.labels.split('\n').map((l) => [l.split('=')[0], l.slice(l.indexOf('=') + 1)]),
    );
    expect(labels).toEqual({
      'org.opencontainers.image.created': '2024-01-31T12:00:00.000Z',
      'org.opencontainers.image.description': 'The API',
      'org.opencontainers.image.licenses': 'MIT',
      'org.opencontainers.image.revision': SHA,
      'org.opencontainers.image.source': 'https://github.com/acme/api',
      'org.opencontainers.image.title': 'api',
      'org.opencontainers.image.url': 'https://github.com/acme/api',
      'org.opencontainers.image.version': version,
    });
    expect(r.outputs.annotations.split('\n')).toContain(
      `manifest:org.opencontainers.image.version=${version}`,
    );
    const json = JSON.parse(r.outputs.json);
    expect(json['tag-names']).toEqual(tagNames);
    expect(json.labels['org.opencontainers.image.version']).toBe(version);
    // The plan: each ref and where it would go, in the log and the summary.
    for (const t of tagNames) {
      expect(r.log).toContain(`would push ${image}:${t} to 127.0.0.1:9 (login as u)`);
      expect(r.summary).toContain(`${image}:${t}`);
    }
    expect(r.summary).toContain('(dry run)');
  });

  it('lower-cases image names as metadata-action does, and warns that it did', async () => {
    const trap = trapDocker();
    const r = await runAction({
      event: events.tag('v2.0.0'),
      env: trap.env,
      inputs: { images: '127.0.0.1:9/Acme/API', 'dry-run': 'true', tags: 'type=raw,value=x' },
    });
    expect(r.code).toBe(0);
    expect(r.outputs.tags).toBe('127.0.0.1:9/acme/api:x');
    expect(r.log).toMatch(/::warning::Input "images" has upper-case letters.*127\.0\.0\.1:9\/acme\/api/);
    expect(existsSync(trap.marker)).toBe(false);
  });

  it('works without images: bare tags', async () => {
    const trap = trapDocker();
    const r = await runAction({ event: events.tag('v2.0.0'), env: trap.env, inputs: { 'dry-run': 'true' } });
    expect(r.code).toBe(0);
    expect(r.outputs.tags.split('\n')).toEqual(['2.0.0', '2.0', `sha-${short}`, 'latest']);
    expect(existsSync(trap.marker)).toBe(false);
  });
});

describe('rejected tag rules fail before anything runs, naming the input and the line', () => {
  it.each([
    ['an unknown type', 'tags', 'type=foo,value=x', /Input "tags".*type=foo/],
    ['ref without event', 'tags', 'type=ref', /Input "tags".*type=ref/],
    ['semver without pattern', 'tags', 'type=semver', /Input "tags".*type=semver/],
    ['enable not exactly true/false', 'tags', 'type=raw,value=x,enable=yes', /Input "tags".*enable=yes/],
    ['a bad format', 'tags', 'type=sha,format=medium', /Input "tags".*format=medium/],
    ['a non-numeric group', 'tags', 'type=match,pattern=v(.*),group=one', /Input "tags".*group=one/],
    ['a bad flavor value', 'flavor', 'latest=sometimes', /Input "flavor".*latest=sometimes/],
    ['an unknown flavor key', 'flavor', 'colour=blue', /Input "flavor".*colour=blue/],
  ])('%s', async (_name, input, value, message) => {
    const trap = trapDocker();
    const r = await runAction({
      event: events.tag('v1.0.0'),
      env: trap.env,
      inputs: { images: image, [input]: value, context: makeContext() },
    });
    expect(r.code).toBe(1);
    const errors = r.log.split('\n').filter((l) => l.startsWith('::error'));
    expect(errors).toHaveLength(1);
    expect(errors[0]).toMatch(message);
    expect(existsSync(trap.marker)).toBe(false);
  });
});
