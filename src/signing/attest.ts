/**
 * `attest: true`: after the push, every pushed subject (each registry's image, and for an
 * index also each image it lists) gets a signed SLSA build provenance attestation: signed
 * keyless with Sigstore (sigstore.ts), stored in GitHub's attestations API, and attached to the
 * image in its registry as an OCI referrer (referrer.ts). A subject that could not be attested
 * is named in the error, never left silently unsigned.
 */
import * as core from '@actions/core';
import { createHash } from 'node:crypto';
import type { Logger } from '../log.js';
import { InputError, messageOf } from '../errors.js';
import { octokitFor, splitRepo } from '../github/octokit.js';
import { githubFacts } from '../provenance/predicate.js';
import type { RegistryClient } from '../registry/client.js';
import type { Report, Target } from '../engine/push.js';
import { buildProvenancePredicate, provenanceStatementFor, runIdentity, SLSA_V1 } from './predicate.js';
import { attachReferrer, referrerManifest } from './referrer.js';
// Loaded when something is signed: Sigstore's client is ~40 ms of start-up every step would pay.
import type { SigstoreInstance } from './sigstore.js';

/** One attested subject, as the outputs and the summary list it. */
export interface SignedSubject {
  /** `registry/repository` (the statement's subject name). */
  image: string;
  digest: string;
  instance: SigstoreInstance['name'];
  /** sha256 of the bundle as stored (the referrer's layer). */
  bundle: string;
  /** The referrer manifest in the registry, and how it is found ('api' or its referrers tag). */
  referrer: string;
  foundBy: string;
  /** Rekor's log index (public-good); GitHub's instance timestamps instead. */
  logIndex?: string;
  /** The id GitHub's attestations API gave it. */
  attestationId?: string;
  verify: string[];
}

export interface SigningResult {
  signed: SignedSubject[];
  missing: { image: string; digest: string; error: string }[];
}

export interface SigningContext {
  targets: Target[];
  clients: (registry: string) => RegistryClient;
  report: Report;
  env: Record<string, string | undefined>;
  payload: { repository?: { visibility?: unknown; id?: unknown; owner?: { id?: unknown } } } | undefined;
  githubToken: string;
  log: Logger;
}

/** Each target's pushed digests: the manifest its tags (or its by-digest push) name, then what an index lists. */
export function subjectsOf(targets: Target[], report: Report): { target: Target; digest: string }[] {
  const out: { target: Target; digest: string }[] = [];
  const platformDigests = Object.values(report.platforms);
  for (const target of targets) {
    const roots = Object.entries(report.digests)
      .filter(([ref]) => ref.startsWith(`${target.name}:`) || ref.startsWith(`${target.name}@`))
      .map(([, d]) => d);
    const isIndex = (d: string) => platformDigests.length > 0 && !platformDigests.includes(d);
    const digests = new Set(roots);
    for (const root of roots) if (isIndex(root)) for (const p of platformDigests) digests.add(p);
    for (const digest of digests) out.push({ target, digest });
  }
  return out;
}

/** The commands that verify an attested image, with gh and with cosign. */
export function verifyCommands(
  image: string,
  digest: string,
  g: { repository: string; serverUrl: string; workflowRef: string },
): string[] {
  const identity = `${g.serverUrl}/${g.workflowRef}`;
  return [
    `gh attestation verify oci://${image}@${digest} -R ${g.repository} --bundle-from-oci`,
    `cosign verify-attestation --type slsaprovenance1 --certificate-oidc-issuer https://token.actions.githubusercontent.com --certificate-identity ${identity} --new-bundle-format ${image}@${digest}`,
  ];
}

/** Signs, stores and attaches an attestation for every pushed subject; throws naming those missing. */
export async function attestPushed(c: SigningContext): Promise<SigningResult> {
  const { signStatement, sigstoreInstance } = await import('./sigstore.js');
  const g = githubFacts(c.env);
  const instance = sigstoreInstance(c.payload?.repository?.visibility, g.serverUrl);
  const predicate = buildProvenancePredicate(g, runIdentity(c.env, c.payload));
  const octokit = await octokitFor(c.githubToken, c.env);
  const { owner, repo } = splitRepo(g.repository);
  const result: SigningResult = { signed: [], missing: [] };
  c.log.info(
    `Signing with Sigstore (${instance.name}: ${instance.fulcioURL}, ${instance.rekorURL ?? instance.tsaURL})`,
  );
  // One at a time: each signing asks for a token and a certificate; there are few subjects.
  for (const { target, digest } of subjectsOf(c.targets, c.report)) {
    try {
      const client = c.clients(target.registry);
      const head = await client.headManifest(target.repository, digest);
      if (!head) throw new Error(`the registry no longer holds ${digest}`);
      const statement = provenanceStatementFor({ name: target.name, digest }, predicate);
      const signed = await signStatement(statement, instance);
      const bundle = Buffer.from(JSON.stringify(signed.bundle));
      const stored = await octokit?.request('POST /repos/{owner}/{repo}/attestations', {
        owner,
        repo,
        bundle: signed.bundle as unknown as Record<string, unknown>,
      });
      const ref = referrerManifest(bundle, head, {
        'dev.sigstore.bundle.content': 'dsse-envelope',
        'dev.sigstore.bundle.predicateType': SLSA_V1,
      });
      const foundBy = await attachReferrer(client, target.repository, ref, digest);
      const s: SignedSubject = {
        image: target.name,
        digest,
        instance: instance.name,
        bundle: `sha256:${createHash('sha256').update(bundle).digest('hex')}`,
        referrer: ref.digest,
        foundBy,
        logIndex: signed.logIndex,
        attestationId: stored?.data?.id === undefined ? undefined : String(stored.data.id),
        verify: verifyCommands(target.name, digest, g),
      };
      result.signed.push(s);
      const where = s.logIndex ? `Rekor log index ${s.logIndex}` : `GitHub's timestamp authority`;
      c.log.info(
        `Attested ${s.image}@${digest}: referrer ${s.referrer} (${foundBy}), ${where}, GitHub attestation ${s.attestationId ?? '-'}`,
      );
    } catch (err) {
      result.missing.push({ image: target.name, digest, error: messageOf(err).split('\n')[0]! });
    }
  }
  return result;
}

/** The one error for subjects left unattested, naming each. */
export function missingError(r: SigningResult): Error {
  const list = r.missing.map((m) => `${m.image}@${m.digest} (${m.error})`).join('; ');
  return new Error(
    `attest: ${r.missing.length} of ${r.missing.length + r.signed.length} pushed subjects have no signed attestation: ${list}`,
  );
}

/**
 * `attest` needs the job's OIDC token (the runner gives ACTIONS_ID_TOKEN_REQUEST_URL/_TOKEN only
 * with `id-token: write`) and a token for the attestations API: said before anything is built.
 */
export async function assertCanAttest(
  env: Record<string, string | undefined>,
  githubToken: string,
): Promise<void> {
  if (!env.ACTIONS_ID_TOKEN_REQUEST_URL || !env.ACTIONS_ID_TOKEN_REQUEST_TOKEN)
    throw new InputError(
      'attest',
      'true',
      "needs the job's OIDC token, but the runner gave none (no ACTIONS_ID_TOKEN_REQUEST_URL): add `permissions: id-token: write` and `attestations: write` to the job",
    );
  if (!githubToken)
    throw new InputError(
      'github-token',
      '',
      'is needed with attest: true, to store the attestations (attestations: write)',
    );
  // Asked once now, so that a refusal stops the step before the build, not after the push;
  // signing asks again (the tokens are short-lived). core masks the token as it arrives.
  await core.getIDToken('sigstore').catch((err: unknown) => {
    // core's message spans lines: the one ::error:: line keeps it whole.
    const why = messageOf(err).replace(/\s+/g, ' ').trim();
    throw new Error(`attest: the job's OIDC token could not be had (${why}); nothing was built or pushed`);
  });
}

/** A push that failed part way leaves what it pushed unsigned: the warning names it. */
export function warnUnsignedOnFailure(report: Report, log: Logger): void {
  if (report.failed.length === 0) return;
  const pushed = Object.keys(report.digests);
  log.warning(
    `attest: nothing was signed, because the push failed; pushed without an attestation: ${pushed.join(', ') || 'nothing'}`,
  );
}
