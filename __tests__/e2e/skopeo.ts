/**
 * skopeo, an independent registry client, reading what the action pushed. Credentials go in an
 * auth file of the test's own (never in argv); the registries are plain HTTP on 127.0.0.1.
 */
import { execFile } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import * as path from 'node:path';
import { promisify } from 'node:util';
import { tempDir } from '../helpers/tmp.js';
import type { Env } from './harness.js';

const run = promisify(execFile);

export class Skopeo {
  private readonly authfile: string;

  constructor(bed: Env) {
    this.authfile = path.join(tempDir('publish-image-skopeo'), 'auth.json');
    const auth = (u: string, p: string) => ({ auth: Buffer.from(`${u}:${p}`).toString('base64') });
    const auths = {
      [bed.reg1]: auth(bed.reg1User, bed.reg1Pass),
      [bed.reg2]: auth(bed.reg2User, bed.reg2Pass),
    };
    writeFileSync(this.authfile, JSON.stringify({ auths }), { mode: 0o600 });
  }

  /** `arch` picks the image of an index, as a pull on that machine would (a global flag). */
  private async skopeo(args: string[], arch?: string): Promise<string> {
    const [cmd, ...rest] = args;
    const global = arch ? ['--override-os', 'linux', '--override-arch', arch] : [];
    const { stdout } = await run('skopeo', [...global, cmd!, '--authfile', this.authfile, ...rest], {
      maxBuffer: 64 * 1024 * 1024,
    });
    return stdout;
  }

  /** The manifest (or index) a reference names, as the registry stores it. */
  async raw(ref: string): Promise<Record<string, any>> {
    return JSON.parse(await this.skopeo(['inspect', '--tls-verify=false', '--raw', `docker://${ref}`]));
  }

  /** The image config skopeo picks for one architecture (an index is resolved like a pull). */
  async config(ref: string, arch: string): Promise<Record<string, any>> {
    const out = await this.skopeo(['inspect', '--tls-verify=false', '--config', `docker://${ref}`], arch);
    return JSON.parse(out);
  }

  /** Fetches the image for one architecture whole (every blob, digests verified) into a directory. */
  async fetch(ref: string, arch: string): Promise<string> {
    const dir = tempDir('publish-image-skopeo-copy');
    await this.skopeo(['copy', '--src-tls-verify=false', `docker://${ref}`, `dir:${dir}`], arch);
    return dir;
  }
}
