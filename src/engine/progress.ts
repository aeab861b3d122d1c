/**
 * Progress lines for long work (the export, each layer's compression and upload): what a person
 * reads in the log to tell a slow upload from a hang. A task's first line comes once it has run
 * for `firstMs`, then one at most every `everyMs` while its bytes move; work that ends sooner
 * prints nothing (small images stay quiet), and a task that stops moving for `stallMs` says so.
 */
const MiB = 1024 * 1024;

export const mib = (n: number): string => `${(n / MiB).toFixed(1)} MiB`;

export function seconds(ms: number): string {
  return ms < 10_000 ? `${(ms / 1000).toFixed(1)} s` : `${Math.round(ms / 1000)} s`;
}

/** One figure of a task: bytes done, of a total when one is known. */
export class Counter {
  done = 0;
  /** Bytes done when the task's last line was written. */
  shown = 0;

  constructor(
    readonly name: string,
    public total?: number,
    /** The total grows as the work goes (bytes compressed so far), so it is "so far". */
    public growing = false,
  ) {}

  add(bytes: number): void {
    this.done += bytes;
  }

  render(elapsedMs: number): string {
    const rate = elapsedMs > 0 ? ((this.done - this.shown) / MiB / elapsedMs) * 1000 : 0;
    // An estimated total (the image's size for its export) must not read "101.0 of 100.0".
    const total = this.total === undefined ? undefined : Math.max(this.total, this.done);
    const of =
      total === undefined
        ? mib(this.done)
        : `${(this.done / MiB).toFixed(1)} of ${mib(total)}${this.growing ? ' so far' : ''}`;
    return `${this.name} ${of} (${rate.toFixed(1)} MiB/s)`;
  }
}

/** A piece of long work: a label and its counters, written on one line. */
export class Task {
  readonly counters: Counter[] = [];
  lastLine: number;
  lastMoved: number;
  stallShown = false;
  finished = false;
  lines = 0;
  private lastSum = 0;

  constructor(
    readonly label: string,
    readonly started: number,
  ) {
    this.lastLine = started;
    this.lastMoved = started;
  }

  counter(name: string, total?: number, growing = false): Counter {
    const c = new Counter(name, total, growing);
    this.counters.push(c);
    return c;
  }

  /** Stops reporting this task (it is done or abandoned). */
  finish(): void {
    this.finished = true;
  }

  /** Notes the time when any counter moved since the last look. */
  moved(now: number): void {
    const sum = this.counters.reduce((n, c) => n + c.done, 0);
    if (sum === this.lastSum) return;
    this.lastSum = sum;
    this.lastMoved = now;
    this.stallShown = false;
  }

  line(now: number): string {
    const elapsed = now - this.lastLine;
    const text = `${this.label}: ${this.counters.map((c) => c.render(elapsed)).join('; ')}`;
    for (const c of this.counters) c.shown = c.done;
    this.lastLine = now;
    this.lines++;
    return text;
  }
}

export interface ProgressOptions {
  /** Where lines go (the log at info level). */
  log: (line: string) => void;
  /** The clock; tests give a fake one and call tick() themselves. */
  now?: () => number;
  /** How long a task runs before its first line (default 3 s). */
  firstMs?: number;
  /** Least time between two lines of a task (default 5 s). */
  everyMs?: number;
  /** A started task that moves nothing for this long says so once (default 30 s). */
  stallMs?: number;
  /** How often the clock is looked at; 0 for no timer (tests tick by hand). Default 1 s. */
  tickMs?: number;
}

/** The tasks of one push, looked at once a second. */
export class Progress {
  private readonly tasks = new Set<Task>();
  private readonly now: () => number;
  private readonly firstMs: number;
  private readonly everyMs: number;
  private readonly stallMs: number;
  private readonly timer?: NodeJS.Timeout;

  constructor(private readonly opts: ProgressOptions) {
    this.now = opts.now ?? Date.now;
    this.firstMs = opts.firstMs ?? 3_000;
    this.everyMs = opts.everyMs ?? 5_000;
    this.stallMs = opts.stallMs ?? 30_000;
    const tickMs = opts.tickMs ?? 1_000;
    if (tickMs > 0) {
      this.timer = setInterval(() => this.tick(), tickMs);
      this.timer.unref(); // never what keeps the process alive
    }
  }

  /** A task whose lines start once it has run for `firstMs`. */
  task(label: string): Task {
    const t = new Task(label, this.now());
    this.tasks.add(t);
    return t;
  }

  /** Writes the lines that are due: bytes moved and the interval passed, or a stall. */
  tick(): void {
    const now = this.now();
    for (const t of [...this.tasks]) {
      if (t.finished) {
        this.tasks.delete(t);
        continue;
      }
      t.moved(now);
      const interval = t.lines === 0 ? this.firstMs : this.everyMs;
      if (now - t.lastLine >= interval && t.lastMoved > t.lastLine) {
        this.opts.log(t.line(now));
      } else if (!t.stallShown && now - t.lastMoved >= this.stallMs) {
        t.stallShown = true;
        this.opts.log(`${t.label}: nothing moved for ${seconds(now - t.lastMoved)}, still waiting`);
      }
    }
  }

  stop(): void {
    if (this.timer) clearInterval(this.timer);
    this.tasks.clear();
  }
}
