import { describe, expect, it } from '@jest/globals';
import { renderSummary, type SummaryData } from '../../src/summary.js';

const base: SummaryData = {
  version: '1.2.3',
  dryRun: false,
  plan: [{ ref: 'ghcr.io/acme/api:1.2.3', registry: 'ghcr.io', login: 'login as octocat' }],
  labels: { 'org.opencontainers.image.version': '1.2.3' },
  annotations: ['manifest:org.opencontainers.image.version=1.2.3'],
  heldBack: [],
};
const D = 'sha256:' + 'a'.repeat(64);

describe('job summary', () => {
  it('shows the version and one row per pushed reference with its digest', () => {
    const md = renderSummary({
      ...base,
      report: {
        digest: D,
        digests: { 'ghcr.io/acme/api:1.2.3': D, 'ghcr.io/acme/api:1.2': D },
        platforms: {},
        failed: [],
      },
    });
    expect(md).toContain('**Version:** `1.2.3`');
    expect(md).toContain(`| \`ghcr.io/acme/api:1.2.3\` | \`${D}\` |`);
    expect(md).toContain(`| \`ghcr.io/acme/api:1.2\` | \`${D}\` |`);
  });

  it('shows per registry how many layers and bytes were reused, mounted, copied and uploaded', () => {
    const none = { layers: 0, bytes: 0 };
    const md = renderSummary({
      ...base,
      report: {
        digest: D,
        digests: { 'ghcr.io/acme/api:1.2.3': D },
        platforms: {},
        failed: [],
        path: 'daemon push',
        reuse: {
          'ghcr.io': {
            reused: none,
            mounted: { layers: 2, bytes: 100 * 1024 * 1024 },
            copied: none,
            uploaded: { layers: 1, bytes: 1048576 },
          },
          'docker.io': {
            reused: none,
            mounted: none,
            copied: { layers: 3, bytes: 101 * 1024 * 1024 },
            uploaded: none,
          },
        },
      },
    });
    expect(md).toContain('**Layers** (published by daemon push):');
    expect(md).toContain('| `ghcr.io` | 0 | 2 (100.0 MiB) | 0 | 1 (1.0 MiB) |');
    expect(md).toContain('| `docker.io` | 0 | 0 | 3 (101.0 MiB) | 0 |');
  });

  it('a dry run shows the plan: every ref, its registry and whose login pushes it', () => {
    const md = renderSummary({ ...base, dryRun: true });
    expect(md).toContain('(dry run)');
    expect(md).toContain('| `ghcr.io/acme/api:1.2.3` | `ghcr.io` | login as octocat |');
    expect(md).toContain('org.opencontainers.image.version');
  });

  it('says why nothing was pushed, and lists what failed', () => {
    const md = renderSummary({
      ...base,
      skipped: 'pull request #7 comes from a fork',
      report: {
        digest: '',
        digests: {},
        platforms: {},
        failed: [{ ref: 'ghcr.io/acme/api:x', error: 'boom | 503' }],
      },
    });
    expect(md).toContain('Not pushed: pull request #7 comes from a fork');
    expect(md).toContain('| `ghcr.io/acme/api:x` | boom \\| 503 |');
  });

  it('lists tags left where they are, with the newer release', () => {
    const md = renderSummary({
      ...base,
      heldBack: [{ ref: 'r/x:latest', held: { tag: 'latest', newer: '2.0.0' } }],
    });
    expect(md).toContain('`r/x:latest`: `2.0.0` is newer');
  });

  it.each([
    ['off', undefined, undefined, '**Provenance:** not attached (input `provenance` is false)'],
    [
      'attached',
      { mode: 'max', version: 'v0.2' },
      { 'linux/amd64': D },
      `**Provenance:** attached (SLSA v0.2, mode=max): \`linux/amd64\` \`${D}\``,
    ],
    ['asked for, none pushed', { mode: 'min', version: 'v1' }, {}, '**Provenance:** asked for, but none'],
  ] as const)('says whether provenance was attached: %s', (_name, provenance, attestations, want) => {
    const report = { digest: D, digests: { 'r/x:1': D }, platforms: {}, attestations, failed: [] };
    expect(renderSummary({ ...base, provenance, report })).toContain(want);
  });
});
