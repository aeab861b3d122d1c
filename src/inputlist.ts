/**
 * How one input is read: a list (one item a line, or comma-separated), a boolean; shared by
 * getInputs() and the build's inputs (src/build/inputs.ts).
 */
import * as core from '@actions/core';
import { InputError } from './errors.js';

/** A list input: one item a line or comma-separated, blank and `#` lines dropped. */
export function listOf(value: string, commas = true): string[] {
  return value
    .split(commas ? /[\n,]/ : /\n/)
    .map((s) => s.trim())
    .filter((s) => s !== '' && !s.startsWith('#'));
}

/** `true` / `false` (any case); `fallback` when the input is empty. */
export function bool(name: string, fallback: boolean): boolean {
  const raw = core.getInput(name).trim();
  if (raw === '') return fallback;
  if (/^true$/i.test(raw)) return true;
  if (/^false$/i.test(raw)) return false;
  throw new InputError(name, raw, 'must be true or false');
}
