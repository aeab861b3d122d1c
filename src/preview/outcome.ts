/** What a cleanup did to each preview reference, for the outputs, the summary and the comment. */
export interface Removed {
  /** `image:tag`. */
  ref: string;
  /** The manifest digest it named, when known. */
  digest?: string;
  /** Set when only the tag went and its digest stays for other tags (the why). */
  untagged?: string;
}

export interface Left {
  ref: string;
  /** Why it is still there, in words a person can act on. */
  why: string;
}

export interface Outcome {
  removed: Removed[];
  left: Left[];
}

export function emptyOutcome(): Outcome {
  return { removed: [], left: [] };
}

export function addOutcome(into: Outcome, from: Outcome): void {
  into.removed.push(...from.removed);
  into.left.push(...from.left);
}

/** Logging the cleanup needs (core.* in the action, a recorder in tests). */
export interface CleanupLog {
  info(message: string): void;
  notice(message: string): void;
  warning(message: string): void;
}
