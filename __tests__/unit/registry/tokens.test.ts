import { describe, expect, it } from '@jest/globals';
import {
  TokenCache,
  challengeError,
  grantedActions,
  grantsPush,
  tokenExpiry,
  type CachedToken,
} from '../../../src/registry/tokens.js';

/** A token in the Docker JWT format; the signature is irrelevant to the client. */
function jwt(claims: unknown): string {
  const part = (v: unknown) => Buffer.from(JSON.stringify(v)).toString('base64url');
  return `${part({ alg: 'RS256', typ: 'JWT' })}.${part(claims)}.c2ln`;
}

describe('tokenExpiry: a token is used for its own lifetime, renewed a little early', () => {
  it.each([
    ['1 s token: renewed after 0.9 s, no 30 s floor', 1, 900],
    ['10 s token: after 9 s', 10, 9_000],
    ['60 s token: after 54 s', 60, 54_000],
    ['300 s token: 10 s early at most', 300, 290_000],
    ['3600 s token: 10 s early', 3600, 3_590_000],
    ['fractional 0.5 s', 0.5, 450],
    ['missing expires_in: the protocol default of 60 s', undefined, 54_000],
    ['zero: the default', 0, 54_000],
    ['negative: the default', -5, 54_000],
    ['a string: the default', '300', 54_000],
  ])('%s', (_name, expiresIn, after) => {
    expect(tokenExpiry(expiresIn, 1_000_000)).toBe(1_000_000 + after);
  });
});

describe('challengeError reads the error of a Bearer challenge', () => {
  it.each([
    [
      'Bearer realm="http://t/token",service="s",scope="repository:a/b:pull,push",error="insufficient_scope"',
      'insufficient_scope',
    ],
    ['Bearer realm="http://t/token",service="s",error="invalid_token"', 'invalid_token'],
    ['bearer error=insufficient_scope, realm="x"', 'insufficient_scope'],
    ['Bearer realm="http://t/token",service="s"', undefined],
    ['Basic realm="x",error="insufficient_scope"', undefined],
    [['Basic realm="x"', 'Bearer realm="y",error="invalid_token"'], 'invalid_token'],
    // A scope that mentions "error=" is not the error parameter.
    ['Bearer realm="r",scope="repository:error=x:pull"', undefined],
    [undefined, undefined],
  ])('%j → %s', (header, expected) => {
    expect(challengeError(header)).toBe(expected);
  });
});

describe('grantedActions / grantsPush read the access claim of a Docker-format JWT', () => {
  const repo = 'carol/app';
  it.each([
    [
      'push and pull granted',
      jwt({ access: [{ type: 'repository', name: repo, actions: ['pull', 'push'] }] }),
      ['pull', 'push'],
      true,
    ],
    [
      'pull only (the namespace is not yours)',
      jwt({ access: [{ type: 'repository', name: repo, actions: ['pull'] }] }),
      ['pull'],
      false,
    ],
    [
      'nothing of what was asked',
      jwt({ access: [{ type: 'repository', name: repo, actions: [] }] }),
      [],
      false,
    ],
    ['an empty access list', jwt({ access: [] }), [], false],
    ['a wildcard', jwt({ access: [{ type: 'repository', name: repo, actions: ['*'] }] }), ['*'], true],
    [
      'two entries for the repository',
      jwt({
        access: [
          { type: 'repository', name: repo, actions: ['pull'] },
          { type: 'repository', name: repo, actions: ['push'] },
        ],
      }),
      ['pull', 'push'],
      true,
    ],
    [
      'only other repositories: cannot tell',
      jwt({ access: [{ type: 'repository', name: 'carol/base', actions: ['pull'] }] }),
      undefined,
      undefined,
    ],
    ['no access claim (an OAuth token): cannot tell', jwt({ sub: 'carol' }), undefined, undefined],
    ['not a JWT (an opaque token): cannot tell', 'djE6YWNtZS9hcGk6MTcwMDAwMDAwMA==', undefined, undefined],
    ['three parts but no JSON: cannot tell', 'a.b.c', undefined, undefined],
  ])('%s', (_name, token, actions, push) => {
    expect(grantedActions(token, repo)).toEqual(actions);
    expect(grantsPush(token, repo)).toBe(push);
  });
});

describe('TokenCache', () => {
  const token = (t: string, expiresAt: number): CachedToken => ({ token: t, expiresAt });

  it('shares one request per scope set and reuses its answer until it expires', async () => {
    let now = 1000;
    const cache = new TokenCache(() => now);
    let fetches = 0;
    const fetch = () => Promise.resolve(token(`t${++fetches}`, now + 500));
    const [a, b] = await Promise.all([cache.get('k', fetch), cache.get('k', fetch)]);
    expect([a.token, b.token, fetches]).toEqual(['t1', 't1', 1]);
    now += 499;
    expect((await cache.get('k', fetch)).token).toBe('t1');
    now += 1;
    expect(cache.has('k')).toBe(false);
    expect((await cache.get('k', fetch)).token).toBe('t2');
  });

  it.each([
    [
      'drops the refused token under its own scope set (a read that sent the push token)',
      'push-1',
      true,
      ['pull-1', 'push-2'],
    ],
    ['drops nothing when the refused token was already replaced', 'push-0', false, ['pull-1', 'push-1']],
  ])('%s', async (_name, refused, dropped, after) => {
    const cache = new TokenCache(() => 0);
    const n: Record<string, number> = { pull: 0, push: 0 };
    const fetch = (kind: string) => () => Promise.resolve(token(`${kind}-${++n[kind]!}`, 10_000));
    await cache.get('pull', fetch('pull'));
    await cache.get('push', fetch('push'));
    expect(cache.drop(refused)).toBe(dropped);
    const now = [
      (await cache.get('pull', fetch('pull'))).token,
      (await cache.get('push', fetch('push'))).token,
    ];
    expect(now).toEqual(after);
  });

  it('forgets a failed request, so the next get asks again', async () => {
    const cache = new TokenCache(() => 0);
    await expect(cache.get('k', () => Promise.reject(new Error('down')))).rejects.toThrow('down');
    expect(cache.has('k')).toBe(false);
    expect((await cache.get('k', () => Promise.resolve(token('ok', 10)))).token).toBe('ok');
  });
});
