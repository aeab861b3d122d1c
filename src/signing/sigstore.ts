/**
 * Keyless signing with Sigstore, chosen as GitHub's own attestation action chooses it
 * (@actions/attest endpoints): a public repository signs with the public-good instance (Fulcio
 * + Rekor transparency log), any other with GitHub's instance (Fulcio + timestamp authority,
 * named from GITHUB_SERVER_URL; github.com's is githubapp.com). The identity is the job's
 * OIDC token, asked through @actions/core so that it is masked the moment it arrives.
 */
import * as core from '@actions/core';
import { bundleToJSON, type SerializedBundle } from '@sigstore/bundle';
import {
  DSSEBundleBuilder,
  FulcioSigner,
  RekorWitness,
  TSAWitness,
  type IdentityProvider,
  type Witness,
} from '@sigstore/sign';

export const IN_TOTO_PAYLOAD = 'application/vnd.in-toto+json';

export interface SigstoreInstance {
  name: 'public-good' | 'github';
  fulcioURL: string;
  rekorURL?: string;
  tsaURL?: string;
}

/** public-good for a public repository (the payload's repository.visibility), else GitHub's. */
export function sigstoreInstance(visibility: unknown, serverUrl: string | undefined): SigstoreInstance {
  if (visibility === 'public')
    return {
      name: 'public-good',
      fulcioURL: 'https://fulcio.sigstore.dev',
      rekorURL: 'https://rekor.sigstore.dev',
    };
  let host = new URL(serverUrl || 'https://github.com').hostname;
  if (host === 'github.com') host = 'githubapp.com';
  return { name: 'github', fulcioURL: `https://fulcio.${host}`, tsaURL: `https://timestamp.${host}` };
}

/** The job's OIDC token for Sigstore's audience; core masks it before returning it. */
const jobIdentity: IdentityProvider = { getToken: () => core.getIDToken('sigstore') };

/** What a signing left in the bundle: the transparency log entry or the timestamp. */
export interface SignedBundle {
  bundle: SerializedBundle;
  /** Rekor's log index (public-good), absent on GitHub's instance. */
  logIndex?: string;
}

/** A DSSE bundle (v0.3) over the in-toto statement, signed with a fresh Fulcio certificate. */
export async function signStatement(
  statement: Record<string, unknown>,
  instance: SigstoreInstance,
): Promise<SignedBundle> {
  const timeout = 10_000;
  const retry = 3;
  const signer = new FulcioSigner({
    identityProvider: jobIdentity,
    fulcioBaseURL: instance.fulcioURL,
    timeout,
    retry,
  });
  const witnesses: Witness[] = [];
  if (instance.rekorURL)
    witnesses.push(
      new RekorWitness({ rekorBaseURL: instance.rekorURL, fetchOnConflict: true, timeout, retry }),
    );
  if (instance.tsaURL) witnesses.push(new TSAWitness({ tsaBaseURL: instance.tsaURL, timeout, retry }));
  const builder = new DSSEBundleBuilder({ signer, witnesses });
  const bundle = await builder.create({
    data: Buffer.from(JSON.stringify(statement)),
    type: IN_TOTO_PAYLOAD,
  });
  const json = bundleToJSON(bundle);
  return { bundle: json, logIndex: json.verificationMaterial.tlogEntries?.[0]?.logIndex };
}
