/**
 * What a person reads when something goes wrong: errors that lead with the cause, outputs that
 * say what the registries hold, and tag rules as metadata-action reads them.
 */
import { beforeAll, describe, expect, it } from '@jest/globals';
import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { events, makeContext, runAction, testBed, uniqueRepo, type Env } from './harness.js';
import { REGISTRY_KINDS, registryOfKind, tokenRegistry } from './registries.js';

let bed: Env;

beforeAll(() => {
  bed = testBed();
});

const docker = (...args: string[]) => execFileSync('docker', args, { encoding: 'utf8' }).trim();
const containers = () => docker('ps', '-aq').split('\n').filter(Boolean).sort();

/** The step's error annotation, decoded the way the runner shows it. */
function errorOf(log: string): string {
  const lines = log.split('\n').filter((l) => l.startsWith('::error::'));
  expect(lines).toHaveLength(1);
  return lines[0]!.slice('::error::'.length).replace(/%0A/g, '\n').replace(/%0D/g, '\r').replace(/%25/g, '%');
}

const login = () => ({ registry: bed.reg1, username: bed.reg1User, password: bed.reg1Pass });

describe('a failed build says why in its first line, and leaves nothing behind', () => {
  it('a failing RUN: the step and its exit code first, no DEPRECATED banner, no container left', async () => {
    const before = containers();
    const marker = randomBytes(4).toString('hex');
    const r = await runAction({
      event: events.branch('main'),
      inputs: {
        images: `${bed.reg1}/${uniqueRepo('msg')}`,
        ...login(),
        network: 'none', // the test bed's dockerd has no bridge network
        context: makeContext(
          1024,
          `FROM local/busybox\nRUN echo fine\nRUN echo "broken ${marker}" >&2; exit 7\nRUN echo never\n`,
        ),
      },
    });
    expect(r.code).toBe(1);
    const error = errorOf(r.log);
    const [first] = error.split('\n');
    expect(first).toBe(
      `Dockerfile step 3/4 (RUN echo "broken ${marker}" >&2; exit 7) failed with exit code 7. Its last output:`,
    );
    expect(error).toContain(`broken ${marker}`);
    expect(r.log).not.toContain('DEPRECATED');
    expect(containers()).toEqual(before);
    // Nothing was pushed, and the outputs say so.
    expect(r.outputs.tags).toBe('');
    expect(r.outputs.digests).toBe('{}');
    expect(r.summary).toContain('failed with exit code 7');
  });

  it.each(REGISTRY_KINDS)(
    'a private base image without a login names the image and its registry, and what to do (%s registry)',
    async (kind) => {
      // A private base (on the token registry: a private-... repository, no anonymous pull),
      // pushed with its registry's login, then gone from the daemon's images.
      const held =
        kind === 'token'
          ? tokenRegistry(bed)
          : { host: bed.reg2, user: bed.reg2User, pass: bed.reg2Pass, repo: uniqueRepo };
      const host = held.host;
      const base = `${host}/${held.repo('private-base')}`;
      const pushed = await runAction({
        event: events.branch('main'),
        inputs: {
          images: base,
          registry: host,
          username: held.user,
          password: held.pass,
          tags: 'type=raw,value=1',
          context: makeContext(),
        },
      });
      expect(pushed.code).toBe(0);
      docker('image', 'rm', `${base}:1`);

      const r = await runAction({
        event: events.branch('main'),
        inputs: {
          images: `${bed.reg1}/${uniqueRepo('msg')}`,
          ...login(), // a login for reg1 only
          context: makeContext(1024, `FROM ${base}:1\nCOPY payload.bin /payload.bin\n`),
        },
      });
      expect(r.code).toBe(1);
      const [first] = errorOf(r.log).split('\n');
      // A token registry answers as Docker Hub does, "pull access denied for <repository>" with
      // no tag: the message still names the image as the FROM line does.
      const tag = ':1';
      expect(first).toMatch(
        new RegExp(
          `^The base image ${base.replace(/\./g, '\\.')}${tag} could not be pulled from ${host.replace(/\./g, '\\.')} `,
        ),
      );
      expect(first).toContain(`this step has no login for ${host}`);
      expect(first).toContain(`add a login for ${host} to registry-auth`);
      expect(first).not.toContain('DEPRECATED');
    },
  );
});

describe('outputs say what the registries hold after the step', () => {
  it.each(REGISTRY_KINDS)(
    'a refused login: tags and digests empty, every planned ref in metadata and the summary with why (%s registry)',
    async (kind) => {
      const reg = registryOfKind(bed, kind);
      const repo = reg.repo('msg');
      const r = await runAction({
        event: events.tag('v1.0.0'),
        inputs: {
          images: `${reg.host}/${repo}`,
          registry: reg.host,
          username: reg.user,
          password: 'not-the-token',
          context: makeContext(),
        },
      });
      expect(r.code).toBe(1);
      expect(r.outputs.tags).toBe('');
      expect(r.outputs.digests).toBe('{}');
      expect(r.outputs.pushed).toBe('false');
      const planned = ['1.0.0', '1.0', 'sha-a1b2c3d', 'latest'].map((t) => `${reg.host}/${repo}:${t}`);
      const failed = JSON.parse(r.outputs.metadata).failed as { ref: string; error: string }[];
      expect(failed.map((f) => f.ref)).toEqual(planned);
      for (const f of failed)
        expect(f.error).toMatch(
          new RegExp(`^Login to ${reg.host.replace(/\./g, '\\.')} as ${reg.user} failed`),
        );
      expect(r.summary).toContain('| not pushed | error |');
      for (const ref of planned) expect(r.summary).toContain(ref);
      expect(await reg.probe.tags(repo)).toEqual([]);
    },
  );
});

describe('tag rules as metadata-action reads them', () => {
  it('a quoted field keeps its commas: type=match,"pattern=^release\\d{1,2}"', async () => {
    const r = await runAction({
      event: events.tag('release12'),
      inputs: {
        images: `${bed.reg1}/acme/api`,
        'dry-run': 'true',
        tags: 'type=match,"pattern=^release\\d{1,2}"\ntype=raw,value=plain',
      },
    });
    expect(r.code).toBe(0);
    expect(r.outputs['tag-names'].split('\n')).toEqual(['release12', 'plain', 'latest']);
  });
});
