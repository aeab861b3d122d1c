/** Independent registry reads (plain fetch with basic auth), not the action's own client. */
export class RegistryProbe {
  constructor(
    readonly host: string,
    private readonly user: string,
    private readonly pass: string,
  ) {}

  private headers(extra: Record<string, string> = {}): Record<string, string> {
    return {
      authorization: `Basic ${Buffer.from(`${this.user}:${this.pass}`).toString('base64')}`,
      ...extra,
    };
  }

  /**
   * A GET with Basic credentials; a Bearer challenge (the token registry) is answered the
   * plain way, a token for exactly the scope the challenge names, fetched with the same Basic
   * credentials, independent of the action's own token code.
   */
  private async get(url: string, extra: Record<string, string> = {}): Promise<Response> {
    const r = await fetch(url, { headers: this.headers(extra) });
    const challenge = r.headers.get('www-authenticate') ?? '';
    if (r.status !== 401 || !/^bearer /i.test(challenge)) return r;
    const param = (name: string) => new RegExp(`${name}="([^"]*)"`).exec(challenge)?.[1];
    const tokenUrl = new URL(param('realm')!);
    tokenUrl.searchParams.set('service', param('service') ?? '');
    if (param('scope')) tokenUrl.searchParams.set('scope', param('scope')!);
    const t = await fetch(tokenUrl, { headers: this.headers() });
    if (!t.ok) throw new Error(`probe: token for ${url}: ${t.status}`);
    const { token } = (await t.json()) as { token: string };
    return fetch(url, { headers: { ...extra, authorization: `Bearer ${token}` } });
  }

  /**
   * The image's tags, its build cache entries (`buildcache-…`, never a release tag) left out:
   * what a flow published. `allTags` lists those too.
   */
  async tags(repo: string): Promise<string[]> {
    return (await this.allTags(repo)).filter((t) => !t.startsWith('buildcache-'));
  }

  async allTags(repo: string): Promise<string[]> {
    const r = await this.get(`http://${this.host}/v2/${repo}/tags/list`);
    if (r.status === 404) return [];
    const body = (await r.json()) as { tags: string[] | null };
    return (body.tags ?? []).sort();
  }

  /** The digest the registry holds for a tag or digest, and the manifest itself. */
  async manifest(
    repo: string,
    ref: string,
  ): Promise<{ digest: string; body: Record<string, any> } | undefined> {
    const accept = [
      'application/vnd.oci.image.index.v1+json',
      'application/vnd.oci.image.manifest.v1+json',
      'application/vnd.docker.distribution.manifest.v2+json',
      'application/vnd.docker.distribution.manifest.list.v2+json',
    ].join(', ');
    const r = await this.get(`http://${this.host}/v2/${repo}/manifests/${ref}`, { accept });
    if (r.status === 404) return undefined;
    if (!r.ok) throw new Error(`GET manifest ${repo}:${ref}: ${r.status}`);
    const digest = r.headers.get('docker-content-digest') ?? '';
    return { digest, body: (await r.json()) as Record<string, any> };
  }

  async blob(repo: string, digest: string): Promise<Buffer> {
    const r = await this.get(`http://${this.host}/v2/${repo}/blobs/${digest}`);
    if (!r.ok) throw new Error(`GET blob ${repo}@${digest}: ${r.status}`);
    return Buffer.from(await r.arrayBuffer());
  }

  async blobJson(repo: string, digest: string): Promise<Record<string, any>> {
    return JSON.parse((await this.blob(repo, digest)).toString('utf8')) as Record<string, any>;
  }

  /** The image config of a single-platform manifest. */
  async config(repo: string, ref: string): Promise<Record<string, any>> {
    const m = await this.manifest(repo, ref);
    if (!m) throw new Error(`no manifest ${repo}:${ref}`);
    return this.blobJson(repo, m.body.config.digest);
  }
}
