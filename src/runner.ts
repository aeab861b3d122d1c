// The GitHub Actions runner protocol, spoken directly: workflow commands on stdout and
// file commands appended to the files the runner names in the environment. Replaces the
// part of @actions/core this action uses, without its eagerly loaded HTTP stack.
import { randomUUID } from 'node:crypto';
import { appendFileSync, constants, existsSync } from 'node:fs';
import { access, appendFile } from 'node:fs/promises';
import { EOL } from 'node:os';

/** Options for getInput, as in @actions/core. */
export interface InputOptions {
  required?: boolean;
  trimWhitespace?: boolean;
}

/** Turns any value into the text the runner receives: strings as is, nullish empty, others JSON. */
function toText(value: unknown): string {
  if (value === undefined || value === null) return '';
  if (typeof value === 'string' || value instanceof String) return String(value);
  return JSON.stringify(value);
}

/** Escapes a command's message so newlines and percent signs survive the one-line format. */
function escapeData(value: unknown): string {
  return toText(value).replace(/%/g, '%25').replace(/\r/g, '%0D').replace(/\n/g, '%0A');
}

/** Escapes a command property, which additionally must not contain its separators. */
function escapeProperty(value: unknown): string {
  return escapeData(value).replace(/:/g, '%3A').replace(/,/g, '%2C');
}

/** Writes one `::command key=value::message` line to stdout. */
function command(name: string, message: unknown = '', properties: Record<string, string> = {}): void {
  const keys = Object.keys(properties);
  const props = keys
    .filter((key) => properties[key])
    .map((key) => `${key}=${escapeProperty(properties[key])}`)
    .join(',');
  const head = keys.length > 0 ? `::${name} ${props}` : `::${name}`;
  process.stdout.write(`${head}::${escapeData(message)}${EOL}`);
}

/** Appends `name<<delimiter` / value / delimiter to the file the runner named in GITHUB_<kind>. */
function fileCommand(kind: 'OUTPUT' | 'STATE', name: string, value: unknown): void {
  const variable = `GITHUB_${kind}`;
  const path = process.env[variable] as string;
  if (!existsSync(path)) throw new Error(`Missing file at path: ${path} (from ${variable})`);
  const delimiter = `ghadelimiter_${randomUUID()}`;
  const text = toText(value);
  // A value that contains the delimiter could end the block early and inject further entries.
  if (name.includes(delimiter)) {
    throw new Error(`Unexpected input: name should not contain the delimiter "${delimiter}"`);
  }
  if (text.includes(delimiter)) {
    throw new Error(`Unexpected input: value should not contain the delimiter "${delimiter}"`);
  }
  appendFileSync(path, `${name}<<${delimiter}${EOL}${text}${EOL}${delimiter}${EOL}`, { encoding: 'utf8' });
}

/** Reads the action input `name` from INPUT_<NAME>; trimmed unless asked not to. */
export function getInput(name: string, options?: InputOptions): string {
  const value = process.env[`INPUT_${name.replace(/ /g, '_').toUpperCase()}`] || '';
  if (options?.required && !value) throw new Error(`Input required and not supplied: ${name}`);
  return options?.trimWhitespace === false ? value : value.trim();
}

/** Asks the runner to mask `secret` in all later log output. */
export function setSecret(secret: string): void {
  command('add-mask', secret);
}

/** Sets the step output `name` via GITHUB_OUTPUT (or the legacy command when it is unset). */
export function setOutput(name: string, value: unknown): void {
  if (process.env.GITHUB_OUTPUT) {
    fileCommand('OUTPUT', name, value);
    return;
  }
  process.stdout.write(EOL);
  command('set-output', toText(value), { name });
}

/** Saves state for the post step via GITHUB_STATE (or the legacy command when it is unset). */
export function saveState(name: string, value: unknown): void {
  if (process.env.GITHUB_STATE) {
    fileCommand('STATE', name, value);
    return;
  }
  command('save-state', toText(value), { name });
}

/** Reads state saved by an earlier step of this action from STATE_<name> ('' when absent). */
export function getState(name: string): string {
  return process.env[`STATE_${name}`] || '';
}

/** Whether step debug logging is on (RUNNER_DEBUG=1). */
export function isDebug(): boolean {
  return process.env.RUNNER_DEBUG === '1';
}

/** Logs a debug line, shown only when step debug logging is on. */
export function debug(message: string): void {
  command('debug', message);
}

/** Logs a plain line. */
export function info(message: string): void {
  process.stdout.write(message + EOL);
}

/** Adds a notice annotation. */
export function notice(message: string | Error): void {
  command('notice', message instanceof Error ? message.toString() : message);
}

/** Adds a warning annotation. */
export function warning(message: string | Error): void {
  command('warning', message instanceof Error ? message.toString() : message);
}

/** Adds an error annotation (does not fail the step; see setFailed). */
export function error(message: string | Error): void {
  command('error', message instanceof Error ? message.toString() : message);
}

/** Starts a collapsible log group; end it with endGroup. */
export function startGroup(name: string): void {
  command('group', name);
}

/** Ends the current log group. */
export function endGroup(): void {
  command('endgroup');
}

/** Fails the step: exit code 1 once the process ends, plus an error annotation. */
export function setFailed(message: string | Error): void {
  process.exitCode = 1;
  error(message);
}

/** Appends markdown to the job summary file named by GITHUB_STEP_SUMMARY. */
export async function appendSummary(markdown: string): Promise<void> {
  const path = process.env.GITHUB_STEP_SUMMARY;
  if (!path) {
    throw new Error(
      'Unable to find environment variable for $GITHUB_STEP_SUMMARY. Check if your runtime environment supports job summaries.',
    );
  }
  try {
    await access(path, constants.R_OK | constants.W_OK);
  } catch {
    throw new Error(
      `Unable to access summary file: '${path}' (from $GITHUB_STEP_SUMMARY). Check if the file has correct read/write permissions.`,
    );
  }
  await appendFile(path, markdown, { encoding: 'utf8' });
}
