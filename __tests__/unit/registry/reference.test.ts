import { describe, expect, it } from '@jest/globals';
import { isLoopback, parseImageName, refString, registryBaseUrl } from '../../../src/registry/reference.js';

describe('parseImageName', () => {
  it.each([
    ['nginx', { registry: 'docker.io', repository: 'library/nginx', apiHost: 'registry-1.docker.io' }],
    [
      'nginx:1.25',
      { registry: 'docker.io', repository: 'library/nginx', apiHost: 'registry-1.docker.io', tag: '1.25' },
    ],
    ['acme/api', { registry: 'docker.io', repository: 'acme/api', apiHost: 'registry-1.docker.io' }],
    [
      'docker.io/acme/api',
      { registry: 'docker.io', repository: 'acme/api', apiHost: 'registry-1.docker.io' },
    ],
    [
      'docker.io/busybox',
      { registry: 'docker.io', repository: 'library/busybox', apiHost: 'registry-1.docker.io' },
    ],
    [
      'index.docker.io/acme/api',
      { registry: 'docker.io', repository: 'acme/api', apiHost: 'registry-1.docker.io' },
    ],
    [
      'ghcr.io/acme/api:1.2.3',
      { registry: 'ghcr.io', repository: 'acme/api', apiHost: 'ghcr.io', tag: '1.2.3' },
    ],
    [
      '127.0.0.1:5101/acme/api',
      { registry: '127.0.0.1:5101', repository: 'acme/api', apiHost: '127.0.0.1:5101' },
    ],
    ['localhost/x', { registry: 'localhost', repository: 'x', apiHost: 'localhost' }],
    [
      'localhost:5000/a/b/c:t',
      { registry: 'localhost:5000', repository: 'a/b/c', apiHost: 'localhost:5000', tag: 't' },
    ],
    ['[::1]:5000/x', { registry: '[::1]:5000', repository: 'x', apiHost: '[::1]:5000' }],
    [
      `reg.example.com/x@sha256:${'a'.repeat(64)}`,
      {
        registry: 'reg.example.com',
        repository: 'x',
        apiHost: 'reg.example.com',
        digest: `sha256:${'a'.repeat(64)}`,
      },
    ],
  ])('parses %s', (name, expected) => {
    expect(parseImageName(name)).toEqual(expected);
  });

  it.each([[''], ['Acme/API'], ['reg.io/'], ['x:bad tag'], ['x@sha256'], ['a//b']])('rejects %j', (name) => {
    expect(() => parseImageName(name)).toThrow();
  });
});

describe('isLoopback decides plain HTTP', () => {
  it.each([
    ['127.0.0.1', true],
    ['127.0.0.1:5101', true],
    ['127.255.3.4:80', true],
    ['localhost', true],
    ['localhost:5000', true],
    ['[::1]:5000', true],
    ['::1', true],
    ['128.0.0.1', false],
    ['127.0.0.256', false],
    ['127.evil.com', false],
    ['ghcr.io', false],
    ['10.0.0.1:5000', false],
  ])('%s → %s', (host, expected) => {
    expect(isLoopback(host)).toBe(expected);
  });

  it.each([
    ['127.0.0.1:5101', 'http://127.0.0.1:5101'],
    ['docker.io', 'https://registry-1.docker.io'],
    ['ghcr.io', 'https://ghcr.io'],
  ])('base URL of %s is %s', (registry, url) => {
    expect(registryBaseUrl(registry)).toBe(url);
  });
});

describe('refString', () => {
  it.each([
    ['a/b', 'v1', 'a/b:v1'],
    ['a/b', 'sha256:abc', 'a/b@sha256:abc'],
  ])('%s + %s → %s', (repo, ref, expected) => expect(refString(repo, ref)).toBe(expected));
});
