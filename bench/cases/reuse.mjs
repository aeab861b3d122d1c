// Cases 6 and 7: a pull request preview of an app layer on a base a registry already holds
// (issue 15); case 6 to that registry, case 7 also to a second registry without the base.
import { CONFIG, log } from '../lib/config.mjs';
import { SHA, actionInputs, runAction } from '../lib/action.mjs';
import { runCli } from '../lib/cli.mjs';
import { appImage, pushedBase, registryManifest, removeImage } from '../lib/images.mjs';
import { alternate, okMs, summarisePublish } from '../lib/rounds.mjs';
import { ratio, stats } from '../lib/stats.mjs';

/**
 * Case 6 (one registry, the base's) and case 7 (also a second registry without the base): a PR
 * preview, `pr-1` and `sha-<7>`, of a fresh app layer on the base. The action gets `source` and
 * `base`; the CLI does `login`, `tag` ×2, `push` ×2 per registry. Each run is checked: every
 * registry's manifests list the base's own layer digests first (the action's runs only: the
 * daemon compresses the base again for a registry that lacks it).
 */
export async function caseReuse(caseId, regs, rounds) {
  const tags = ['pr-1', `sha-${SHA.slice(0, 7)}`];
  log(
    `== case ${caseId}: PR preview of a ${CONFIG.appKiB} KiB app layer on a ${CONFIG.baseMiB} MiB text base held by ${regs[0].host}, to ${regs.length} registr${regs.length > 1 ? 'ies' : 'y'} x 2 tags (${rounds} rounds)`,
  );
  // Case 7: a new base for every run, so the second registry never holds it (nor does the
  // daemon know it there from an earlier round).
  const freshBase = regs.length > 1;
  let base = await pushedBase(CONFIG.baseMiB);
  let used = false;
  const image = async () => {
    if (freshBase && used) {
      await removeImage(base.ref);
      base = await pushedBase(CONFIG.baseMiB);
    }
    used = true;
    return appImage(base.ref, CONFIG.appKiB);
  };
  const pathsOf = { action: {}, actionNoBase: {} };
  const checkBaseOf = (key) => async (repo, res) => {
    const paths = pathsOf[key];
    const path_ = /Publishing by ([a-z ]+):/.exec(res.lines.map((l) => l.line).join('\n'))?.[1] ?? 'unknown';
    paths[path_] = (paths[path_] ?? 0) + 1;
    const problems = [];
    for (const r of regs)
      for (const t of tags) {
        const m = await registryManifest(r, repo, t);
        const got = (m?.layers ?? []).slice(0, base.layers.length).map((l) => l.digest);
        if (got.join() !== base.layers.join())
          problems.push(`${r.host}/${repo}:${t} does not list the base's layer digests`);
      }
    return problems;
  };
  const inputs = (id, repo) => ({ ...actionInputs(id, regs, repo, tags), base: base.ref });
  const contenders = [
    {
      key: 'action',
      regs,
      tags,
      check: checkBaseOf('action'),
      run: (id, repo) => runAction(inputs(id, repo)),
    },
    { key: 'cli', regs, tags, run: (id, repo) => runCli(id, regs, repo, tags) },
  ];
  // Case 6 also times the action without the `base` input: the daemon names the base the
  // image was built on (before that, this was the export path: every layer compressed and sent).
  if (!freshBase)
    contenders.push({
      key: 'actionNoBase',
      regs,
      tags,
      check: checkBaseOf('actionNoBase'),
      run: (id, repo) => runAction(actionInputs(id, regs, repo, tags)),
    });
  const results = await alternate(caseId, contenders, rounds, 0, { image });
  await removeImage(base.ref);
  const s = summarisePublish(results);
  if (results.actionNoBase) {
    s.actionNoBase = stats(okMs(results.actionNoBase));
    s.ratioActionNoBaseToCli = ratio(s.actionNoBase.median, s.cli.median);
    s.actionNoBasePaths = pathsOf.actionNoBase;
    s.actionNoBaseDigestsKept = `${results.actionNoBase.filter((r) => r.ok).length}/${results.actionNoBase.length}`;
  }
  return {
    baseMiB: CONFIG.baseMiB,
    baseCompressedBytes: base.bytes,
    appKiB: CONFIG.appKiB,
    registries: regs.length,
    tags: tags.length,
    rounds,
    actionPaths: pathsOf.action,
    baseDigestsKept: `${results.action.filter((r) => r.ok).length}/${results.action.length}`,
    ...s,
  };
}
