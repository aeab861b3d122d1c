/**
 * The classic builder's log, read for each stage's image: it builds every stage before the one
 * asked for and prints the id of each step's image (` ---> 0edd74f09d6d`), so the last id of a
 * stage is that stage's image. The build cache keeps it as the stage's entry: no second build
 * with `--target` is needed (BuildKit prints no such ids, and gets one).
 */
export interface StageStats {
  steps: number;
  cached: number;
}

export class ClassicStages {
  private stage = -1;
  private readonly names: (string | undefined)[] = [];
  private readonly images: (string | undefined)[] = [];
  private readonly stats: StageStats[] = [];
  /** Whether the step now running is a RUN, COPY or ADD (the steps counted). */
  private work = false;

  line(line: string): void {
    const step = /^Step \d+\/\d+ : (\S+)\s*(.*)$/.exec(line);
    if (step) {
      const keyword = step[1]!.toUpperCase();
      this.work = /^(RUN|COPY|ADD)$/.test(keyword);
      if (keyword === 'FROM') {
        this.stage++;
        this.names[this.stage] = /\sAS\s+(\S+)\s*$/i.exec(` ${step[2]}`)?.[1]?.toLowerCase();
        this.stats[this.stage] = { steps: 0, cached: 0 };
      } else if (this.work && this.stage >= 0) this.stats[this.stage]!.steps++;
      return;
    }
    if (this.stage < 0) return;
    if (this.work && /^\s*---> Using cache/.test(line)) this.stats[this.stage]!.cached++;
    const id = /^\s*---> ([0-9a-f]{12,64})\s*$/.exec(line)?.[1];
    if (id) this.images[this.stage] = id;
  }

  private indexOf(name: string): number {
    return this.names.lastIndexOf(name.toLowerCase());
  }

  /** The image id the stage `name` ended with, if the log said it. */
  imageOf(name: string): string | undefined {
    const i = this.indexOf(name);
    return i < 0 ? undefined : this.images[i];
  }

  /** How many RUN/COPY/ADD steps of stage `name` ran, and how many came from the cache. */
  statsOf(name: string): StageStats {
    return this.stats[this.indexOf(name)] ?? { steps: 0, cached: 0 };
  }
}
