import type { HeldBack } from './forward.js';
import type { Report } from './engine/push.js';
import type { ProvenanceOptions } from './provenance/predicate.js';
import type { SigningResult } from './signing/attest.js';

export interface SummaryData {
  version: string;
  dryRun: boolean;
  /** Why nothing was pushed, when nothing was meant to be. */
  skipped?: string;
  /** Every ref the run pushes (or would push), with the registry and its login. */
  plan: { ref: string; registry: string; login: string }[];
  labels: Record<string, string>;
  annotations: string[];
  report?: Report;
  heldBack: { ref: string; held: HeldBack }[];
  /** What a dry run would have had to ask a registry to settle, said instead of asked. */
  notAsked?: string;
  /** The provenance asked for; undefined when the input is off (or nothing was pushed yet). */
  provenance?: ProvenanceOptions;
  /** The build cache: what was read, how many steps it served, what was written (Markdown lines). */
  cache?: string[];
  /** The signed attestations (`attest: true`), once signing ran. */
  attested?: SigningResult;
}

const cell = (s: string) => s.replace(/\|/g, '\\|').replace(/\n/g, ' ');
const mib = (n: number) => `${(n / (1024 * 1024)).toFixed(1)} MiB`;
const code = (s: string) => (s ? `\`${cell(s)}\`` : '');

/** Whether provenance was attached, and which, in one line. */
function provenanceLine(p: ProvenanceOptions | undefined, report: Report): string {
  const attached = Object.entries(report.attestations ?? {});
  if (attached.length)
    return (
      `**Provenance:** attached (SLSA ${p?.version ?? 'v0.2'}, mode=${p?.mode ?? 'min'}): ` +
      attached.map(([platform, digest]) => `${code(platform)} ${code(digest)}`).join(', ')
    );
  if (p) return '**Provenance:** asked for, but none was attached (see the log)';
  return '**Provenance:** not attached (input `provenance` is false)';
}

/** Each attested subject: its bundle, referrer, log entry and how to verify it; then any missing. */
function attestationLines(a: SigningResult): string[] {
  const out: string[] = [];
  if (a.signed.length) {
    out.push(
      '**Signed attestations** (SLSA build provenance, Sigstore):',
      '',
      '| subject | bundle | referrer | log entry | verify |',
      '| --- | --- | --- | --- | --- |',
    );
    for (const s of a.signed) {
      // GitHub's instance keeps no transparency log: its record is the stored attestation.
      const entry = s.logIndex
        ? `Rekor ${s.logIndex}`
        : `GitHub instance, timestamped; attestation ${s.attestationId ?? '-'}`;
      out.push(
        `| ${code(`${s.image}@${s.digest}`)} | ${code(s.bundle)} | ${code(s.referrer)} | ${entry} | ${s.verify.map(code).join('<br>')} |`,
      );
    }
    out.push('');
  }
  if (a.missing.length) {
    out.push('| not attested | error |', '| --- | --- |');
    for (const m of a.missing) out.push(`| ${code(`${m.image}@${m.digest}`)} | ${cell(m.error)} |`);
    out.push('');
  }
  return out;
}

/** What was pushed: refs, platforms, what each registry got of the layers, provenance, failures. */
function reportLines(report: Report, provenance: SummaryData['provenance']): string[] {
  const out: string[] = [];
  const pushed = Object.entries(report.digests);
  if (pushed.length) {
    out.push('| pushed reference | digest |', '| --- | --- |');
    for (const [ref, digest] of pushed) out.push(`| ${code(ref)} | ${code(digest)} |`);
    out.push('');
  }
  const platforms = Object.entries(report.platforms);
  if (platforms.length) {
    out.push('| platform | manifest digest |', '| --- | --- |');
    for (const [p, digest] of platforms) out.push(`| ${code(p)} | ${code(digest)} |`);
    out.push('');
  }
  const reuse = Object.entries(report.reuse ?? {});
  if (reuse.length) {
    const t = (x: { layers: number; bytes: number }) => (x.layers ? `${x.layers} (${mib(x.bytes)})` : '0');
    out.push(
      `**Layers** (published by ${report.path ?? 'export'}):`,
      '',
      '| registry | reused | mounted | copied | uploaded |',
      '| --- | --- | --- | --- | --- |',
    );
    for (const [reg, r] of reuse)
      out.push(`| ${code(reg)} | ${t(r.reused)} | ${t(r.mounted)} | ${t(r.copied)} | ${t(r.uploaded)} |`);
    out.push('');
  }
  out.push(provenanceLine(provenance, report), '');
  if (report.failed.length) {
    out.push('| not pushed | error |', '| --- | --- |');
    for (const f of report.failed) out.push(`| ${code(f.ref)} | ${cell(f.error)} |`);
    out.push('');
  }
  return out;
}

/** The job summary as Markdown (tokens never reach here: only names, refs and digests). */
export function renderSummary(d: SummaryData): string {
  const out: string[] = [];
  out.push(`## publish-image${d.dryRun ? ' (dry run)' : ''}`, '');
  out.push(`**Version:** ${d.version ? code(d.version) : '_none_ (no tag rule produced a tag)'}`, '');
  if (d.skipped) out.push(`> [!NOTE]`, `> Not pushed: ${d.skipped}`, '');
  if (d.report && !d.dryRun) out.push(...reportLines(d.report, d.provenance));
  if (d.attested) out.push(...attestationLines(d.attested));
  else if (d.plan.length) {
    out.push(
      `| ${d.dryRun || d.skipped ? 'would push' : 'reference'} | registry | credentials |`,
      '| --- | --- | --- |',
    );
    for (const p of d.plan) out.push(`| ${code(p.ref)} | ${code(p.registry)} | ${cell(p.login)} |`);
    out.push('');
  }
  if (d.cache?.length) out.push('**Build cache:**', '', ...d.cache, '');
  if (d.notAsked) out.push(`> [!NOTE]`, `> ${cell(d.notAsked)}`, '');
  if (d.heldBack.length) {
    out.push('**Left where they are** (a newer release is already in the registry):', '');
    for (const h of d.heldBack) out.push(`- ${code(h.ref)}: ${code(h.held.newer)} is newer`);
    out.push('');
  }
  const labels = Object.entries(d.labels);
  if (labels.length) {
    out.push('<details><summary>Labels</summary>', '', '| label | value |', '| --- | --- |');
    for (const [k, v] of labels) out.push(`| ${code(k)} | ${cell(v)} |`);
    out.push('', '</details>', '');
  }
  if (d.annotations.length) {
    out.push('<details><summary>Annotations</summary>', '');
    for (const a of d.annotations) out.push(`- ${code(a)}`);
    out.push('', '</details>', '');
  }
  return out.join('\n');
}
