import { describe, expect, it } from '@jest/globals';
import { ctxFor, expectInputError, run } from './helpers.js';

const dev = () => ctxFor('push', 'refs/heads/dev');

describe('tags input is validated', () => {
  it.each([
    ['type=ref', /event/],
    ['type=ref,event=foo', /event must be branch, tag or pr/],
    ['type=semver', /pattern/],
    ['type=pep440', /pattern/],
    ['type=match', /pattern/],
    ['type=raw', /value/],
    ['type=match,pattern=x,group=abc', /group must be a number/],
    ['type=sha,format=medium', /format must be short or long/],
    ['type=unknown,value=x', /unknown type "unknown"/],
    ['type=Raw,value=x', /unknown type "Raw"/],
    ['type=raw,value=a"b', /comma-separated/],
    ['type=raw,value=x,enable=True', /enable must render to exactly true or false, got "True"/],
    ['type=raw,value=x,enable=true ok', /got "true ok"/],
    ['type=raw,value=x,enable={{branch}}', /got "dev"/],
    ['type=match,pattern=/(/', /invalid regular expression/],
    ['type=match,pattern=/x/q', /invalid regular expression/],
    ['type=semver,pattern={{version}},match=(', /invalid regular expression/],
  ])('%s', (line, reason) => {
    expectInputError(() => run({ tags: `type=sha\n${line}` }, dev()), 'tags', line, reason);
  });

  it('semver match= without a capture group fails when it matches', () => {
    const line = 'type=semver,pattern={{version}},match=v\\d.\\d.\\d';
    expectInputError(
      () => run({ tags: line }, ctxFor('push', 'refs/tags/v1.2.3')),
      'tags',
      line,
      /capture group/,
    );
  });

  it.each([
    ['a tag longer than 128 characters', `type=raw,value=${'a'.repeat(129)}`, 'a'.repeat(129), /128/],
    ['a tag starting with "."', 'type=raw,value=.hidden', '.hidden', /must not start/],
    ['a tag starting with "-" after sanitising', 'type=raw,value=#1', '-1', /must not start/],
  ])('%s is rejected (docker could never push it)', (_name, line, tag, reason) => {
    const err = expectInputError(() => run({ tags: line }, dev()), 'tags', tag, reason);
    expect(err.message).toContain(line);
  });

  it('a 128-character tag is fine', () => {
    expect(run({ tags: `type=raw,value=${'a'.repeat(128)}` }, dev()).version).toHaveLength(128);
  });

  it('an unpushable latest tag is a flavor error', () => {
    expectInputError(
      () => run({ tags: 'type=raw,value=x,prefix=', flavor: 'latest=true\nprefix=-,onlatest=true' }, dev()),
      'flavor',
      '-latest',
    );
  });
});

describe('flavor input is validated', () => {
  it.each([
    ['latest=maybe', /latest must be auto, true or false/],
    ['latest=True', /latest must be auto, true or false/],
    ['prefix', /not key=value/],
    ['foo=bar', /unknown flavor key "foo"/],
    ['prefix=a,onlatest=yes', /onlatest must be true or false/],
  ])('%s', (line, reason) => {
    expectInputError(() => run({ tags: 'type=raw,value=x', flavor: line }, dev()), 'flavor', line, reason);
  });
});

describe('images input is validated', () => {
  it.each([
    ['name=,enable=true\nother/app', 'name=,enable=true', /image name is empty/],
    ['name=a/b,enable=yes\nother/app', 'name=a/b,enable=yes', /enable must be true or false/],
    ['name=a/b,foo=bar', 'name=a/b,foo=bar', /unknown image attribute "foo"/],
    ['user/app:1.0', 'user/app:1.0', /a tag/],
    ['other/app\nuser/app@sha256:abc', 'user/app@sha256:abc', /digest/],
    ['user app', 'user app', /whitespace/],
    ['user//app', 'user//app', /empty path component/],
    ['ghcr.io/', 'ghcr.io/', /empty path component/],
    ['user/app_', 'user/app_', /path component "app_"/],
    ['user/-app', 'user/-app', /path component "-app"/],
    ['bad_host.io/app', 'bad_host.io/app', /registry host/],
    ['localhost:port/app', 'localhost:port/app', /registry host/],
    ['user/app,Bad Name', 'user/app,Bad Name', /whitespace/],
    ['user/app,', 'user/app,', /empty/],
    // Docker Hub without a namespace is library/<name>, which nobody but Docker pushes to.
    ['myapp', 'myapp', /library\/myapp.*put the user or organisation in front, like acme\/myapp/],
    ['docker.io/myapp', 'docker.io/myapp', /library\/myapp.*user or organisation/],
    ['index.docker.io/myapp', 'index.docker.io/myapp', /library\/myapp/],
    ['ghcr.io/acme/api,myapp', 'ghcr.io/acme/api,myapp', /library\/myapp/],
  ])('%j', (images, line, reason) => {
    expectInputError(() => run({ images, tags: 'type=raw,value=x' }, dev()), 'images', line, reason);
  });

  it('a disabled image is not checked against the grammar', () => {
    const meta = run({ images: 'name=Bad Name,enable=false\nuser/app', tags: 'type=raw,value=x' }, dev());
    expect(meta.tags).toEqual(['user/app:x']);
  });

  it.each([
    'user/app',
    'docker.io/library/app',
    'GHCR.IO/Acme/App',
    'localhost/app',
    'localhost:5000/a/b/c',
    'registry.example.com:443/team/app.web_1-x',
    '[::1]:5000/app',
    'a__b/c--d',
  ])('%s is a valid image name', (name) => {
    const meta = run({ images: name, tags: 'type=raw,value=x' }, dev());
    expect(meta.tags).toEqual([`${name.toLowerCase()}:x`]);
  });
});
