/** What the step reports when it ends, pushed or not: outputs, and the job summary. */
import * as core from '@actions/core';
import { messageOf } from './errors.js';
import type { Meta } from './meta/index.js';
import { newReport, type Report } from './engine/push.js';
import { renderSummary, type SummaryData } from './summary.js';

/**
 * The report with every planned ref that is neither pushed, nor already failed, nor left alone
 * on purpose marked as failed, with the error that stopped the step (its first line).
 */
export function withUnpushed(
  report: Report,
  plan: SummaryData['plan'],
  summary: SummaryData,
  failure: unknown,
): Report {
  const done = new Set([
    ...Object.keys(report.digests),
    ...report.failed.map((f) => f.ref),
    ...summary.heldBack.map((h) => h.ref),
  ]);
  const why = failure === undefined ? 'not pushed' : messageOf(failure).split('\n')[0]!;
  // A push by digest plans `image@<digest>` and reports `image@sha256:...`.
  const byDigest = (ref: string) =>
    ref.endsWith('@<digest>') && Object.keys(report.digests).some((k) => k.startsWith(ref.slice(0, -8)));
  const missing = plan.filter((p) => !done.has(p.ref) && !byDigest(p.ref));
  return { ...report, failed: [...report.failed, ...missing.map((p) => ({ ref: p.ref, error: why }))] };
}

function setOutputs(
  meta: Meta,
  sepTags: string,
  imageId: string,
  report: Report | undefined,
  summary: SummaryData,
): void {
  const held = new Set(summary.heldBack.map((h) => h.ref));
  const o = meta.outputs;
  core.setOutput('version', o.version);
  // `tags` describes what the registries now hold: after a push (or a failed one) only the refs
  // a registry took, never the ones left alone; a dry run or a build without push gives the plan.
  const pushing = !summary.dryRun && !summary.skipped;
  const holds = (t: string) => !held.has(t) && (!pushing || report?.digests[t] !== undefined);
  core.setOutput('tags', meta.tags.filter(holds).join(sepTags));
  core.setOutput('tag-names', o['tag-names']);
  core.setOutput('labels', o.labels);
  core.setOutput('annotations', o.annotations);
  core.setOutput('json', o.json);
  core.setOutput('imageid', imageId);
  core.setOutput('digest', report?.digest ?? '');
  core.setOutput('digests', JSON.stringify(report?.digests ?? {}));
  core.setOutput('pushed', String(Object.keys(report?.digests ?? {}).length > 0));
  core.setOutput('attestations', JSON.stringify(summary.attested?.signed ?? []));
  core.setOutput(
    'metadata',
    JSON.stringify({
      platforms: report?.platforms ?? {},
      attestations: report?.attestations ?? {},
      heldBack: summary.heldBack,
      failed: report?.failed ?? [],
      ...(report?.path ? { path: report.path, reuse: report.reuse ?? {} } : {}),
    }),
  );
}

export interface StepEnd {
  meta: Meta;
  sepTags: string;
  imageId: string;
  report?: Report;
  summary: SummaryData;
  /** What the step meant to push: anything of it not pushed is reported as failed. */
  pushPlan?: SummaryData['plan'];
  failure: unknown;
}

/** Outputs and summary, on success and on failure alike; a summary that cannot be written warns. */
export async function reportEnd(e: StepEnd): Promise<void> {
  // A push that stopped early (a refused login, a failed build) pushed none of what is left.
  const report = e.pushPlan
    ? withUnpushed(e.report ?? newReport(), e.pushPlan, e.summary, e.failure)
    : e.report;
  setOutputs(e.meta, e.sepTags, e.imageId, report, e.summary);
  try {
    await core.summary.addRaw(renderSummary({ ...e.summary, report })).write();
  } catch (err) {
    core.warning(`Could not write the job summary: ${messageOf(err)}`);
  }
}
