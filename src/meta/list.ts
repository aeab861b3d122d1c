import { parse } from 'csv-parse/sync';
import { InputError } from '../errors.js';

/** One line of a list input, as upstream reads it; `quoted` when a field of it was quoted. */
export interface ListLine {
  line: string;
  /** The line as written and the fields its quotes give (see readListLines). */
  quoted?: { text: string; fields: string[] };
}

/**
 * First pass over a list input, as metadata-action reads it: one record per line,
 * a `#` comment only when it opens the line, blank lines skipped, double quotes
 * consumed, fields of one line glued back with `,`, every line trimmed.
 */
export function readList(input: string, raw: string): string[] {
  return readListLines(input, raw).map((l) => l.line);
}

/**
 * readList, keeping the fields of a line that quotes one. metadata-action glues the fields back
 * with `,` and splits the line again, so `type=match,"pattern=^v\d{1,2}"` loses its quotes and
 * is cut inside `{1,2}`; here a line with a quoted field keeps the fields the quotes gave, as
 * metadata-action's own rule tests expect. A line without quotes is read exactly as upstream.
 */
export function readListLines(input: string, raw: string): ListLine[] {
  if (raw === '') return [];
  let records: { record: string[]; raw: string }[];
  try {
    records = parse(raw, {
      columns: false,
      relax_quotes: true,
      relax_column_count: true,
      skip_empty_lines: true,
      comment: '#',
      comment_no_infix: true,
      raw: true,
    }) as unknown as { record: string[]; raw: string }[];
  } catch (err) {
    throw new InputError(input, raw, `cannot be read as a list: ${(err as Error).message}`);
  }
  const lines: ListLine[] = [];
  for (const { record, raw: text } of records) {
    const line = (record.length === 1 ? record[0]! : record.join(',')).trim();
    // A whitespace-only line carries nothing (upstream would trip over it later).
    if (line === '') continue;
    // The record's own text, after the comment and blank lines that came before it.
    const own = text.replace(/^(?:[ \t]*(?:#[^\n]*)?\r?\n)*/, '').trim();
    lines.push(/(^|,)"/.test(own) ? { line, quoted: { text: own, fields: record } } : { line });
  }
  return lines;
}

/** Second pass: one list line split into its comma-separated fields (strict CSV quoting). */
export function splitFields(input: string, line: string): string[] {
  let records: string[][];
  try {
    records = parse(line, { relax_column_count: true, skip_empty_lines: true }) as string[][];
  } catch (err) {
    throw new InputError(input, line, `is not a valid comma-separated line: ${(err as Error).message}`);
  }
  return records[0] ?? [];
}
