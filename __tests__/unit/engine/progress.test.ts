import { describe, expect, it } from '@jest/globals';
import { Progress, seconds } from '../../../src/engine/progress.js';

const MiB = 1024 * 1024;

/** A Progress on a fake clock: `at(ms)` moves the clock and looks, as the 1 s timer would. */
function board(o: { firstMs?: number; everyMs?: number; stallMs?: number } = {}) {
  let now = 0;
  const lines: string[] = [];
  const p = new Progress({ log: (l) => lines.push(l), now: () => now, tickMs: 0, ...o });
  const at = (ms: number) => {
    now = ms;
    p.tick();
  };
  return { p, lines, at };
}

describe('progress lines on a fake clock', () => {
  it('stays quiet for work that ends before its first line is due (small images)', () => {
    const { p, lines, at } = board();
    const t = p.task('Layer 1');
    const c = t.counter('compressed', 4 * MiB);
    for (let ms = 0; ms <= 2_999; ms += 500) {
      c.add(MiB);
      at(ms);
    }
    t.finish();
    at(10_000);
    expect(lines).toEqual([]);
  });

  it('writes bytes done, total and rate after 3 s, then at most every 5 s while bytes move', () => {
    const { p, lines, at } = board();
    const t = p.task('Layer 1');
    const c = t.counter('compressed', 100 * MiB);
    for (let s = 1; s <= 14; s++) {
      c.add(2 * MiB); // 2 MiB/s
      at(s * 1_000);
    }
    expect(lines).toEqual([
      'Layer 1: compressed 6.0 of 100.0 MiB (2.0 MiB/s)',
      'Layer 1: compressed 16.0 of 100.0 MiB (2.0 MiB/s)',
      'Layer 1: compressed 26.0 of 100.0 MiB (2.0 MiB/s)',
    ]);
  });

  it('never shows more done than an estimated total', () => {
    const { p, lines, at } = board();
    const c = p.task('Export from docker').counter('read', 10 * MiB);
    c.add(10.5 * MiB);
    at(3_000);
    expect(lines).toEqual(['Export from docker: read 10.5 of 10.5 MiB (3.5 MiB/s)']);
  });

  it.each([
    ['every second', 1_000],
    ['every 3 s', 3_000],
    ['every 9 s', 9_000],
  ])('writes a line at least every 10 s while bytes move (%s)', (_name, stepMs) => {
    const { p, lines, at } = board();
    const t = p.task('Export from docker');
    const c = t.counter('read');
    const times: number[] = [];
    for (let ms = stepMs; ms <= 60_000; ms += stepMs) {
      c.add(MiB);
      const before = lines.length;
      at(ms);
      if (lines.length > before) times.push(ms);
    }
    const gaps = times.map((t, i) => t - (i ? times[i - 1] : 0));
    expect(times.length).toBeGreaterThan(0);
    for (const g of gaps) expect(g).toBeLessThanOrEqual(10_000);
    expect(gaps[0]).toBeGreaterThanOrEqual(3_000);
    for (const g of gaps.slice(1)) expect(g).toBeGreaterThanOrEqual(5_000);
  });

  it('puts every counter of a task on its one line, "so far" while its total grows', () => {
    const { p, lines, at } = board();
    const t = p.task('Layer 2');
    const compressed = t.counter('compressed', 300 * MiB);
    const up = t.counter('to reg1', 0, true);
    compressed.add(50 * MiB);
    up.total = 20 * MiB;
    up.add(10 * MiB);
    at(5_000);
    expect(lines).toEqual([
      'Layer 2: compressed 50.0 of 300.0 MiB (10.0 MiB/s); to reg1 10.0 of 20.0 MiB so far (2.0 MiB/s)',
    ]);
  });

  it('gives the rate since the last line, not since the start', () => {
    const { p, lines, at } = board();
    const c = p.task('Layer 1').counter('compressed');
    c.add(50 * MiB);
    at(3_000);
    c.add(5 * MiB);
    at(8_000);
    expect(lines[1]).toBe('Layer 1: compressed 55.0 MiB (1.0 MiB/s)');
  });

  it('says once that a task stopped moving, and goes on when it moves again', () => {
    const { p, lines, at } = board();
    const c = p.task('Layer 1').counter('compressed');
    c.add(MiB);
    at(1_000);
    for (let ms = 2_000; ms <= 60_000; ms += 1_000) at(ms);
    expect(lines).toEqual([
      'Layer 1: compressed 1.0 MiB (0.3 MiB/s)',
      'Layer 1: nothing moved for 30 s, still waiting',
    ]);
    c.add(MiB);
    at(61_000);
    expect(lines[2]).toMatch(/^Layer 1: compressed 2\.0 MiB/);
    expect(lines).toHaveLength(3);
  });

  it('forgets finished tasks', () => {
    const { p, lines, at } = board();
    const t = p.task('Layer 1');
    t.counter('compressed').add(MiB);
    t.finish();
    at(6_000);
    at(60_000);
    expect(lines).toEqual([]);
  });

  it.each([
    [450, '0.5 s'],
    [4_200, '4.2 s'],
    [9_949, '9.9 s'],
    [12_400, '12 s'],
  ])('seconds(%i) is %s', (ms, text) => {
    expect(seconds(ms)).toBe(text);
  });
});
