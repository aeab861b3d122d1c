import { beforeEach, describe, expect, it, jest } from '@jest/globals';
import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import * as path from 'node:path';
import { tempDir } from '../helpers/tmp.js';

// @actions/core replaced: state comes from STATE_<name>, as the runner gives it, and everything
// said is recorded.
const STATE_NAMES = ['isPost', 'configDir', 'logout'];
const setState = (values: Record<string, string>) => {
  for (const [k, v] of Object.entries(values)) process.env[`STATE_${k}`] = v;
};
const said: string[] = [];
const saved: Record<string, string> = {};
jest.unstable_mockModule('@actions/core', () => ({
  getState: (name: string) => process.env[`STATE_${name}`] ?? '',
  saveState: (name: string, value: string) => (saved[name] = value),
  info: (m: string) => said.push(`info: ${m}`),
  warning: (m: string) => said.push(`warning: ${m}`),
  setFailed: (m: string) => said.push(`failed: ${m}`),
}));
// The main step itself is not under test here: it fails at once, as a bad input would.
const publish = jest.fn(async () => {
  throw new Error('Input "images": needs at least one image name');
});
jest.unstable_mockModule('../../src/publish.js', () => ({ publish }));
const { entry } = await import('../../src/main.js');

beforeEach(() => {
  for (const k of STATE_NAMES) delete process.env[`STATE_${k}`];
  for (const k of Object.keys(saved)) delete saved[k];
  said.length = 0;
  publish.mockClear();
});

function configDir(): string {
  const dir = path.join(tempDir('main-test'), 'publish-image-docker-x');
  mkdirSync(dir);
  writeFileSync(path.join(dir, 'config.json'), '{"auths":{"r":{"auth":"dG9rZW4="}}}');
  return dir;
}

describe('main and post, one bundle', () => {
  it('the main step marks the state for the post step and fails with the error message', async () => {
    await entry();
    expect(saved.isPost).toBe('true');
    expect(publish).toHaveBeenCalledTimes(1);
    expect(said).toEqual(['failed: Input "images": needs at least one image name']);
  });

  it.each([
    [
      'removes the docker config the main step made',
      'true',
      false,
      ['info: Removed the registry credentials of this step'],
    ],
    [
      'keeps it with logout: false, and says where it is',
      'false',
      true,
      [/^info: logout: false, the registry credentials stay in /],
    ],
  ])('the post step %s', async (_name, logout, kept, lines) => {
    const dir = configDir();
    setState({ isPost: 'true', configDir: dir, logout });
    await entry();
    expect(publish).not.toHaveBeenCalled();
    expect(existsSync(dir)).toBe(kept);
    expect(said).toHaveLength(lines.length);
    lines.forEach((l, i) => (typeof l === 'string' ? expect(said[i]).toBe(l) : expect(said[i]).toMatch(l)));
  });

  it.each([
    ['logged in to nothing', {}],
    ['removed the credentials itself (the state names no directory)', { configDir: '', logout: 'true' }],
  ])('the post step does nothing when the main step %s', async (_name, values) => {
    setState({ isPost: 'true', ...values });
    await entry();
    expect(publish).not.toHaveBeenCalled();
    expect(said).toEqual([]);
  });
});
