import { describe, expect, it } from '@jest/globals';
import { isRetryableDockerError } from '../../../src/registry/retry.js';

describe('isRetryableDockerError classifies docker CLI stderr', () => {
  it.each([
    ['received unexpected HTTP status: 503 Service Unavailable', true, '503 Service Unavailable'],
    ['received unexpected HTTP status: 502 Bad Gateway', true, '502 Bad Gateway'],
    ['error parsing HTTP 504 response body: invalid character', true, undefined],
    ['toomanyrequests: You have reached your pull rate limit.', true, '429 Too Many Requests'],
    ['unexpected status code 429 Too Many Requests', true, '429 Too Many Requests'],
    [
      'Put "http://127.0.0.1:5101/v2/a/manifests/1": read tcp 127.0.0.1:1->127.0.0.1:5101: read: connection reset by peer',
      true,
      'connection reset by peer',
    ],
    ['Patch "https://r/v2/a/blobs/uploads/x": EOF', true, 'unexpected EOF'],
    ['unexpected EOF', true, 'unexpected EOF'],
    ['dial tcp 10.0.0.1:443: i/o timeout', true, 'i/o timeout'],
    ['net/http: TLS handshake timeout', true, 'TLS handshake timeout'],
    ['write tcp 1.2.3.4:5->6.7.8.9:443: write: broken pipe', true, 'broken pipe'],
    ['Get "https://r/v2/": dial tcp: lookup r: Temporary failure in name resolution', true, 'DNS failure'],
    ['Get "https://127.0.0.1:5101/v2/": http: server gave HTTP response to HTTPS client', false, undefined],
    ['unauthorized: authentication required', false, undefined],
    ['denied: requested access to the resource is denied', false, undefined],
    ['name unknown: repository name not known to registry', false, undefined],
    ['manifest unknown: manifest unknown', false, undefined],
    [
      'Error response from daemon: login attempt to http://r/v2/ failed with status: 401 Unauthorized',
      false,
      undefined,
    ],
    ['no basic auth credentials', false, undefined],
    ['invalid reference format', false, undefined],
    ['something else entirely', false, undefined],
  ])('%s → retryable %s', (stderr, retryable, reason) => {
    const c = isRetryableDockerError(`DEPRECATED: The legacy builder is deprecated\n${stderr}\n`);
    expect(c.retryable).toBe(retryable);
    if (reason) expect(c.reason).toBe(reason);
    if (!retryable) expect(c.reason).toContain(stderr.split('\n').pop()!);
  });
});
