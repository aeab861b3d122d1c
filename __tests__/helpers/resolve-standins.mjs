// Preloaded into the action's process (NODE_OPTIONS=--import <this file>) by the signing tests:
// host names listed in STANDIN_HOSTS ("name,name=127.x.y.z") resolve to that loopback address,
// so the unchanged product reaches the local Sigstore stand-ins under their real names. Every
// other name resolves as usual. The action itself knows nothing of this.
import dns from 'node:dns';

const spec = process.env.STANDIN_HOSTS ?? '';
const [names = '', address = ''] = spec.split('=');
const hosts = new Set(names.split(',').filter(Boolean));

if (hosts.size && address) {
  const original = dns.lookup;
  dns.lookup = function lookup(hostname, options, callback) {
    const cb = typeof options === 'function' ? options : callback;
    const opts = typeof options === 'object' && options !== null ? options : {};
    if (!hosts.has(String(hostname).toLowerCase())) return original.call(dns, hostname, options, callback);
    process.nextTick(() => (opts.all ? cb(null, [{ address, family: 4 }]) : cb(null, address, 4)));
    return undefined;
  };
  const originalPromise = dns.promises.lookup;
  dns.promises.lookup = async (hostname, options) =>
    hosts.has(String(hostname).toLowerCase())
      ? options?.all
        ? [{ address, family: 4 }]
        : { address, family: 4 }
      : originalPromise.call(dns.promises, hostname, options);
}
