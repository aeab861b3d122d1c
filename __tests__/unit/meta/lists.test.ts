import { describe, expect, it } from '@jest/globals';
import { ctxFor, expectInputError, run } from './helpers.js';

const dev = () => ctxFor('push', 'refs/heads/dev');

describe('list inputs', () => {
  it.each([
    ['comment lines are skipped', '# tags\ntype=raw,value=a\n#type=raw,value=b', ['a']],
    ['blank lines are skipped', 'type=raw,value=a\n\n\ntype=raw,value=b', ['a', 'b']],
    ['whitespace-only lines are skipped', 'type=raw,value=a\n   \ntype=raw,value=b', ['a', 'b']],
    [
      'a # later in the line is kept (trailing comments are not comments)',
      'type=raw,value=foo # note',
      ['foo-note'],
    ],
    ['lines are trimmed', '   type=raw,value=a   ', ['a']],
    ['double quotes are consumed by the first pass', 'type=raw,"value=a b"', ['a-b']],
    ['a quoted comma splits again in the rule parser', '"type=raw,value=a"', ['a']],
    ['fields are trimmed', 'type = raw , value = a', ['a']],
  ])('%s', (_name, tags, expected) => {
    expect(run({ tags }, dev()).tagNames).toEqual(expected);
  });

  it.each([
    [
      'a regular expression with a comma in quotes',
      'release12',
      'type=match,"pattern=^release\\d{1,2}"',
      ['release12'],
    ],
    [
      'a quoted pattern and a group after it',
      'v12.3',
      'type=match,"pattern=^v(\\d{1,3})\\.(\\d+)",group=1',
      ['12'],
    ],
    ['a quoted value with a comma', 'v1', 'type=raw,"value=a,b"', ['a-b']],
    ['a doubled quote inside quotes is one quote', 'v1', 'type=raw,"value=q""r"', ['q-r']],
    ['after a comment line', 'release7', '# ours\ntype=match,"pattern=^release\\d{1,2}"', ['release7']],
    [
      'next to unquoted lines',
      'release7',
      'type=raw,value=x\ntype=match,"pattern=^release\\d{1,2}"',
      ['release7', 'x'],
    ],
    [
      'one quoted field that only upstream reading makes a rule of, read as upstream',
      'v1',
      '"type=raw,value=a"',
      ['a'],
    ],
  ])('quoted fields are honoured: %s', (_name, tag, tags, expected) => {
    const ctx = ctxFor('push', `refs/tags/${tag}`);
    expect(run({ tags, flavor: 'latest=false' }, ctx).tagNames).toEqual(expected);
  });

  it('an unquoted line is read exactly as before: the comma of {1,2} cuts the pattern, no tag', () => {
    const ctx = ctxFor('push', 'refs/tags/release12');
    const meta = run({ tags: 'type=match,pattern=^release\\d{1,2}', flavor: 'latest=false' }, ctx);
    expect(meta.tagNames).toEqual([]);
    expect(meta.rules[0]!.attrs.get('pattern')).toBe('^release\\d{1');
  });

  it('a quoted line that no reading makes a rule of names the line as written', () => {
    expectInputError(
      () => run({ tags: 'type=match,"pattern=(unclosed,x"' }, ctxFor('push', 'refs/tags/v1')),
      'tags',
      'type=match,"pattern=(unclosed,x"',
    );
  });

  it('a tags input of only comments falls back to the default rules', () => {
    expect(run({ tags: '# nothing here' }, dev()).tagNames).toEqual(['dev', 'sha-860c190']);
  });

  it.each([
    [
      'one line of comma-separated names is several images',
      'user/app,ghcr.io/user/app',
      ['user/app', 'ghcr.io/user/app'],
    ],
    ['spaces around the names are trimmed', 'user/app , ghcr.io/user/app', ['user/app', 'ghcr.io/user/app']],
    ['one name a line', 'user/app\nghcr.io/user/app', ['user/app', 'ghcr.io/user/app']],
    ['name= and enable=', 'name=user/app,enable=true\nname=ghcr.io/user/app,enable=false', ['user/app']],
    [
      'a bare field on a multi-line input is the name',
      'user/app,enable=true\nother/app',
      ['user/app', 'other/app'],
    ],
    ['image comment lines are skipped', '# registries\nuser/app', ['user/app']],
    ['name values are cut at a second =', 'name=user/app=x', ['user/app']],
  ])('images: %s', (_name, images, expected) => {
    const meta = run({ images, tags: 'type=raw,value=x' }, dev());
    expect(meta.images).toEqual(expected);
  });

  it('imageList keeps disabled images', () => {
    const meta = run({ images: 'name=A/B,enable=false\nc/d', tags: 'type=raw,value=x' }, dev());
    expect(meta.imageList).toEqual([
      { name: 'a/b', enable: false },
      { name: 'c/d', enable: true },
    ]);
  });

  it('flavor lines: comments skipped, later lines override', () => {
    const meta = run({ tags: 'type=raw,value=x', flavor: '# f\nprefix=a-\nprefix=b-' }, dev());
    expect(meta.tagNames).toEqual(['b-x']);
  });
});
