import { parse } from 'csv-parse/sync';
import { InputError } from '../errors.js';

/**
 * First pass over a list input, as metadata-action reads it: one record per line,
 * a `#` comment only when it opens the line, blank lines skipped, double quotes
 * consumed, fields of one line glued back with `,`, every line trimmed.
 */
export function readList(input: string, raw: string): string[] {
  if (raw === '') return [];
  let records: string[][];
  try {
    records = parse(raw, {
      columns: false,
      relax_quotes: true,
      relax_column_count: true,
      skip_empty_lines: true,
      comment: '#',
      comment_no_infix: true,
    }) as string[][];
  } catch (err) {
    throw new InputError(input, raw, `cannot be read as a list: ${(err as Error).message}`);
  }
  const lines: string[] = [];
  for (const record of records) {
    const line = (record.length === 1 ? record[0] : record.join(',')).trim();
    // A whitespace-only line carries nothing (upstream would trip over it later).
    if (line !== '') lines.push(line);
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
