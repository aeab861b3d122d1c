// Case 2: the cost of each extra tag, 1 against 8 tags to one registry.
import { BED, CONFIG, log } from '../lib/config.mjs';
import { actionInputs, runAction } from '../lib/action.mjs';
import { runCli } from '../lib/cli.mjs';
import { alternate, okMs, tagList } from '../lib/rounds.mjs';
import { ratio, stats } from '../lib/stats.mjs';

async function caseTagCost(rounds) {
  const mib = CONFIG.smallMiB;
  log(`== case 2: cost of an extra tag, 1 vs 8 tags to one registry, ${mib} MiB (${rounds} rounds)`);
  const regs = [BED.regs[0]];
  const one = tagList(1);
  const eight = tagList(8);
  const contenders = [
    { key: 'action1', regs, tags: one, run: (id, repo) => runAction(actionInputs(id, regs, repo, one)) },
    { key: 'cli1', regs, tags: one, run: (id, repo) => runCli(id, regs, repo, one) },
    { key: 'action8', regs, tags: eight, run: (id, repo) => runAction(actionInputs(id, regs, repo, eight)) },
    { key: 'cli8', regs, tags: eight, run: (id, repo) => runCli(id, regs, repo, eight) },
  ];
  const res = await alternate(2, contenders, rounds, mib);
  const s = Object.fromEntries(Object.entries(res).map(([k, v]) => [k, stats(okMs(v))]));
  const perTag = (a, b) =>
    a.median == null || b.median == null ? null : Math.round((b.median - a.median) / 0.7) / 10;
  // Seen directly. The action: every tag is a manifest PUT (8 in flight) once the relay has
  // every blob in every registry ("is in every registry", debug), so from the last such line to
  // the last "Pushed" line, / 8; on the direct path (no relay) from the daemon push's "Pushed"
  // line to the last tag's, / 7. The CLI: `docker tag` + `docker push` of tags 2-8, / 7.
  const direct = {
    action: stats(
      okMs(res.action8, (r) => {
        const pushed = r.lines.filter((l) => l.line.startsWith('Pushed ')).map((l) => l.t);
        if (pushed.length !== 8) return null;
        const settled = r.lines.filter(
          (l) => l.line.includes('relay: sha256:') && l.line.endsWith(' is in every registry'),
        );
        if (settled.length) return (Math.max(...pushed) - Math.max(...settled.map((l) => l.t))) / 8;
        return (Math.max(...pushed) - Math.min(...pushed)) / 7;
      }),
    ),
    cli: stats(
      okMs(res.cli8, (r) => {
        const extra = [...r.each.tag.slice(1), ...r.each.push.slice(1)];
        return extra.reduce((a, b) => a + b, 0) / 7;
      }),
    ),
  };
  const actionPerTag = perTag(s.action1, s.action8);
  const cliPerTag = perTag(s.cli1, s.cli8);
  return {
    imageMiB: mib,
    rounds,
    ...s,
    actionPerExtraTagMs: actionPerTag,
    cliPerExtraTagMs: cliPerTag,
    perExtraTagSeenDirectly: direct,
    ratioPerExtraTag:
      actionPerTag != null && cliPerTag != null && cliPerTag > 0 ? ratio(actionPerTag, cliPerTag) : null,
  };
}

export default { id: '2', key: 'tagCost', run: () => caseTagCost(CONFIG.rounds) };
