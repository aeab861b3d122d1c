import { describe, expect, it } from '@jest/globals';
import { describeReuse, placeBlobs, planBlob, ReuseLedger } from '../../../src/engine/reuse.js';
import { silentLogger } from '../../../src/log.js';
import { MemoryRegistry } from './fakeregistry.js';

const at = (registry: string, repository: string) => ({ registry, repository });

describe('planBlob: how a target gets a blob others hold', () => {
  it.each([
    {
      name: 'listed by a manifest in the target repository: there',
      from: [at('r1', 'base'), at('r1', 'app')],
      want: { there: true },
    },
    {
      name: 'same registry, other repository: mount from it (copy from it if refused)',
      from: [at('r1', 'base')],
      want: { there: false, mount: 'base', copy: at('r1', 'base') },
    },
    {
      name: 'only on another registry: copy from there',
      from: [at('r2', 'base')],
      want: { there: false, copy: at('r2', 'base') },
    },
    {
      name: 'both: mount on the same registry, copy from the other if the mount is refused',
      from: [at('r2', 'base'), at('r1', 'lib')],
      want: { there: false, mount: 'lib', copy: at('r2', 'base') },
    },
    { name: 'nowhere', from: [], want: { there: false } },
  ])('$name', ({ from, want }) => {
    expect(planBlob(at('r1', 'app'), from)).toEqual(want);
  });
});

describe('ReuseLedger: per registry, the costliest thing a layer needed', () => {
  it.each([
    { notes: [['r1', 'a', 10, 'reused']], want: { r1: { reused: [1, 10] } } },
    {
      notes: [
        ['r1', 'a', 10, 'mounted'],
        ['r1', 'a', 10, 'reused'],
        ['r1', 'b', 5, 'uploaded'],
        ['r2', 'a', 10, 'copied'],
      ],
      want: { r1: { mounted: [1, 10], uploaded: [1, 5] }, r2: { copied: [1, 10] } },
    },
    {
      notes: [
        ['r1', 'a', 10, 'reused'],
        ['r1', 'a', 10, 'uploaded'],
      ],
      want: { r1: { uploaded: [1, 10] } },
    },
  ] as const)('%j', ({ notes, want }) => {
    const ledger = new ReuseLedger();
    for (const [r, d, n, o] of notes) ledger.note(r, d, n, o);
    const got = ledger.report();
    for (const [reg, kinds] of Object.entries(want)) {
      for (const kind of ['reused', 'mounted', 'copied', 'uploaded'] as const) {
        const [layers, bytes] = (kinds as Record<string, readonly [number, number]>)[kind] ?? [0, 0];
        expect(got[reg]![kind]).toEqual({ layers, bytes });
      }
    }
    expect(Object.keys(got).sort()).toEqual(Object.keys(want).sort());
  });
});

describe('placeBlobs', () => {
  it('leaves what is there, mounts on the same registry, copies the bytes as they are across, and tallies layers only', async () => {
    const r1 = new MemoryRegistry('r1');
    const r2 = new MemoryRegistry('r2');
    const clients = (r: string) => (r === 'r1' ? r1 : r2).client();
    const l1 = r1.putBlob('base', 'layer-one');
    const l2 = r1.putBlob('base', 'layer-two!');
    const cfg = r1.putBlob('base', '{"config":1}');
    r1.putBlob('app', 'layer-two!'); // already there
    const ledger = new ReuseLedger();
    const from = [at('r1', 'base')];
    const placed = await placeBlobs(
      [
        { digest: l1, size: 9, from, layer: true },
        { digest: l2, size: 10, from, layer: true },
        { digest: cfg, size: 12, from, layer: false },
      ],
      [
        { client: r1.client(), repo: 'app' },
        { client: r2.client(), repo: 'app' },
      ],
      { clients, ledger, log: silentLogger },
    );
    expect([...placed].sort()).toEqual([l1, l2, cfg].sort());
    expect(r1.calls).toContain(`MOUNT app@${l1} from base`);
    expect(r1.calls).not.toContain(`MOUNT app@${l2} from base`);
    expect(r2.calls).toEqual(
      expect.arrayContaining([`UPLOAD app@${l1}`, `UPLOAD app@${l2}`, `UPLOAD app@${cfg}`]),
    );
    expect(r2.blobs.get('app')!.get(l1)!.toString()).toBe('layer-one');
    const report = ledger.report();
    expect(report.r1).toMatchObject({ reused: { layers: 1, bytes: 10 }, mounted: { layers: 1, bytes: 9 } });
    expect(report.r2).toMatchObject({ copied: { layers: 2, bytes: 19 }, uploaded: { layers: 0, bytes: 0 } });
    expect(describeReuse(report)).toEqual([
      'r1: 1 layer (10 B) reused, 1 layer (9 B) mounted',
      'r2: 2 layers (19 B) copied',
    ]);
  });

  it('copies on the same registry when the mount is refused, and leaves out a blob it cannot place', async () => {
    const r1 = new MemoryRegistry('r1');
    r1.mountsRefused = true;
    const l1 = r1.putBlob('base', 'layer-one');
    const lost = 'sha256:' + '0'.repeat(64);
    const lines: string[] = [];
    const placed = await placeBlobs(
      [
        { digest: l1, size: 9, from: [at('r1', 'base')], layer: true },
        { digest: lost, size: 3, from: [at('r1', 'base')], layer: true },
      ],
      [{ client: r1.client(), repo: 'app' }],
      {
        clients: () => r1.client(),
        ledger: new ReuseLedger(),
        log: { ...silentLogger, info: (m) => lines.push(m) },
      },
    );
    expect([...placed]).toEqual([l1]);
    expect(r1.calls).toContain(`UPLOAD app@${l1}`);
    expect(lines).toEqual([
      expect.stringMatching(new RegExp(`^r1/app: could not reuse ${lost} \\(.*\\); sending it$`)),
    ]);
  });
});
