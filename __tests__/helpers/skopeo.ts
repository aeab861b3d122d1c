/**
 * Fetches an image whole with skopeo, an independent client: every blob is downloaded and
 * checked against its digest. The credentials go in an auth file (0600, removed after), never
 * in skopeo's argv.
 */
import { execFile } from 'node:child_process';
import { readFileSync, rmSync, writeFileSync } from 'node:fs';
import * as path from 'node:path';
import { promisify } from 'node:util';
import { tempDir } from './tmp.js';

const run = promisify(execFile);

export interface Fetched {
  /** The manifest skopeo copied (parsed), its media type and the layout directory. */
  manifest: { mediaType?: string; config: { digest: string }; layers: { digest: string; size: number }[] };
  dir: string;
}

export async function skopeoFetch(
  host: string,
  repoTag: string,
  user: string,
  pass: string,
): Promise<Fetched> {
  const work = tempDir('skopeo');
  const authfile = path.join(work, 'auth.json');
  const auth = Buffer.from(`${user}:${pass}`).toString('base64');
  writeFileSync(authfile, JSON.stringify({ auths: { [host]: { auth } } }), { mode: 0o600 });
  const dir = path.join(work, 'layout');
  try {
    // --preserve-digests: the bytes the registry holds, as they are (no conversion).
    await run(
      'skopeo',
      [
        'copy',
        '--quiet',
        '--preserve-digests',
        '--src-tls-verify=false',
        '--src-authfile',
        authfile,
        `docker://${host}/${repoTag}`,
        `oci:${dir}:fetched`,
      ],
      { timeout: 120_000 },
    );
  } finally {
    rmSync(authfile, { force: true });
  }
  const index = JSON.parse(readFileSync(path.join(dir, 'index.json'), 'utf8')) as {
    manifests: { digest: string }[];
  };
  const blob = (digest: string) => path.join(dir, 'blobs', ...digest.split(':'));
  const manifest = JSON.parse(readFileSync(blob(index.manifests[0]!.digest), 'utf8')) as Fetched['manifest'];
  // Every blob the manifest names is in the layout, with its full size.
  for (const l of manifest.layers) {
    const bytes = readFileSync(blob(l.digest));
    if (bytes.length !== l.size)
      throw new Error(`skopeo: layer ${l.digest} has ${bytes.length} of ${l.size} bytes`);
  }
  readFileSync(blob(manifest.config.digest));
  return { manifest, dir };
}
