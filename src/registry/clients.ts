/**
 * One RegistryClient per registry for the whole step, so tokens and upload methods learned on
 * one request serve the next. Pushes use the step's login for that registry, or docker's own.
 */
import type { RegistryLogin } from '../inputs.js';
import type { Logger } from '../log.js';
import { RegistryClient } from './client.js';
import { type CredentialLookup, staticCredentials } from './credentials.js';
import type { RetryPolicy } from './retry.js';

/**
 * Reading a base on a registry nothing is pushed to is best effort: a short leash, so an
 * unreachable one costs seconds, not the push's retry budget.
 */
const LOOKUP_RETRY: RetryPolicy = { attempts: 2, baseDelayMs: 250, maxDelayMs: 1000, totalMs: 5000 };
const LOOKUP_TIMEOUT_MS = 10_000;

export interface StepClients {
  /** For the registries the step pushes to (and reads them), with the step's retry policy. */
  clients: (registry: string) => RegistryClient;
  /** For reading earlier images: the push client where there is one, else a short-leashed one. */
  lookupClients: (registry: string) => RegistryClient;
}

export function stepClients(o: {
  logins: RegistryLogin[];
  /** docker's existing logins, for registries the step has none for. */
  dockerCredentials: CredentialLookup;
  pushRegistries: string[];
  policy: RetryPolicy;
  log: Logger;
}): StepClients {
  const cache = new Map<string, RegistryClient>();
  const clientFor = (registry: string, policy: RetryPolicy, timeoutMs?: number) => {
    const key = `${registry} ${policy === o.policy ? '' : 'lookup'}`;
    let c = cache.get(key);
    if (!c) {
      const l = o.logins.find((x) => x.registry === registry);
      const credentials = l
        ? staticCredentials({ [registry]: { username: l.username, password: l.password } })
        : o.dockerCredentials;
      c = new RegistryClient({ registry, credentials, policy, log: o.log, timeoutMs });
      cache.set(key, c);
    }
    return c;
  };
  const clients = (registry: string) => clientFor(registry, o.policy);
  const lookupClients = (registry: string) =>
    o.pushRegistries.includes(registry)
      ? clients(registry)
      : clientFor(registry, LOOKUP_RETRY, LOOKUP_TIMEOUT_MS);
  return { clients, lookupClients };
}
