import { describe, expect, it, beforeEach, afterEach, jest } from '@jest/globals';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { EOL, tmpdir } from 'node:os';
import { join } from 'node:path';
import * as realCrypto from 'node:crypto';

// The delimiter is random; a collision test needs to know it in advance, so randomUUID is
// replaceable per test (and real otherwise).
const randomUUID = jest.fn(realCrypto.randomUUID);
jest.unstable_mockModule('node:crypto', () => ({ ...realCrypto, randomUUID }));
const runner = await import('../../src/runner.js');

// Every variable a test may set; each is put back as it was after every test.
const touched = [
  'INPUT_TAGS',
  'INPUT_BUILD_ARGS',
  'INPUT_EMPTY',
  'GITHUB_OUTPUT',
  'GITHUB_STATE',
  'GITHUB_STEP_SUMMARY',
  'STATE_digest',
  'RUNNER_DEBUG',
];
let savedEnv: Record<string, string | undefined>;
let savedExitCode: typeof process.exitCode;
let stdout: string[];
let dir: string;

beforeEach(() => {
  savedEnv = Object.fromEntries(touched.map((key) => [key, process.env[key]]));
  for (const key of touched) delete process.env[key];
  savedExitCode = process.exitCode;
  stdout = [];
  jest.spyOn(process.stdout, 'write').mockImplementation((chunk: string | Uint8Array) => {
    stdout.push(String(chunk));
    return true;
  });
  dir = mkdtempSync(join(tmpdir(), 'runner-test-'));
});

afterEach(() => {
  jest.restoreAllMocks();
  process.exitCode = savedExitCode;
  for (const [key, value] of Object.entries(savedEnv)) {
    if (value === undefined) delete process.env[key];
    else process.env[key] = value;
  }
  rmSync(dir, { recursive: true, force: true });
});

/** A fresh empty file in the test's directory, as the runner would create it. */
function emptyFile(name: string): string {
  const path = join(dir, name);
  writeFileSync(path, '');
  return path;
}

/** Reads `name<<delimiter` blocks back the way the runner does. */
function parseHeredocs(text: string): Record<string, string> {
  const lines = text.split(EOL);
  const entries: Record<string, string> = {};
  for (let i = 0; i < lines.length; i++) {
    const match = /^(.*)<<(ghadelimiter_[0-9a-f-]{36})$/.exec(lines[i]);
    if (!match) continue;
    const end = lines.indexOf(match[2], i + 1);
    expect(end).toBeGreaterThan(i);
    entries[match[1]] = lines.slice(i + 1, end).join(EOL);
    i = end;
  }
  return entries;
}

describe('getInput maps names to INPUT_ variables', () => {
  it.each([
    ['an upper-cased name', 'tags', 'INPUT_TAGS', 'a,b', {}, 'a,b'],
    ['spaces become underscores', 'build args', 'INPUT_BUILD_ARGS', 'X=1', {}, 'X=1'],
    ['surrounding whitespace is trimmed', 'tags', 'INPUT_TAGS', '  a\n', {}, 'a'],
    ['whitespace is kept when asked', 'tags', 'INPUT_TAGS', '  a\n', { trimWhitespace: false }, '  a\n'],
    ['an unset input is empty', 'tags', 'INPUT_EMPTY', 'x', {}, ''],
    ['a supplied required input is returned', 'tags', 'INPUT_TAGS', ' a ', { required: true }, 'a'],
  ])('%s', (_name, input, variable, value, options, expected) => {
    process.env[variable] = value;
    expect(runner.getInput(input, options)).toBe(expected);
  });

  it.each([
    ['unset', undefined],
    ['empty', ''],
  ])('a required input that is %s throws', (_name, value) => {
    if (value !== undefined) process.env.INPUT_TAGS = value;
    expect(() => runner.getInput('tags', { required: true })).toThrow(
      'Input required and not supplied: tags',
    );
  });
});

describe('workflow commands are one escaped line on stdout', () => {
  it.each([
    ['debug', () => runner.debug('a%b'), `::debug::a%25b${EOL}`],
    ['notice', () => runner.notice('line 1\nline 2'), `::notice::line 1%0Aline 2${EOL}`],
    ['warning', () => runner.warning('crlf\r\n'), `::warning::crlf%0D%0A${EOL}`],
    ['error', () => runner.error('100%\n'), `::error::100%25%0A${EOL}`],
    ['an Error as its toString()', () => runner.warning(new Error('boom')), `::warning::Error: boom${EOL}`],
    ['add-mask', () => runner.setSecret('s3%cr\net'), `::add-mask::s3%25cr%0Aet${EOL}`],
    ['group start', () => runner.startGroup('Build'), `::group::Build${EOL}`],
    ['group end', () => runner.endGroup(), `::endgroup::${EOL}`],
    ['info is a plain unescaped line', () => runner.info('50%\nok'), `50%\nok${EOL}`],
  ])('%s', (_name, call, expected) => {
    call();
    expect(stdout.join('')).toBe(expected);
  });
});

describe('isDebug follows RUNNER_DEBUG', () => {
  it.each([
    [undefined, false],
    ['0', false],
    ['true', false],
    ['1', true],
  ])('RUNNER_DEBUG=%s gives %s', (value, expected) => {
    if (value !== undefined) process.env.RUNNER_DEBUG = value;
    expect(runner.isDebug()).toBe(expected);
  });
});

describe.each([
  ['setOutput', 'GITHUB_OUTPUT', runner.setOutput],
  ['saveState', 'GITHUB_STATE', runner.saveState],
])('%s writes heredoc blocks to %s', (_fn, variable, write) => {
  it.each([
    ['a plain string', 'digest', 'sha256:abc', 'sha256:abc'],
    ['a multi-line value', 'tags', 'a:1\nb:2\n\nc:3', 'a:1\nb:2\n\nc:3'],
    ['an empty string', 'empty', '', ''],
    ['undefined as empty', 'none', undefined, ''],
    ['null as empty', 'none', null, ''],
    ['a number as JSON', 'count', 3, '3'],
    ['an object as JSON', 'json', { a: [1, 'x'] }, '{"a":[1,"x"]}'],
  ])('round-trips %s', (_name, name, value, expected) => {
    const file = emptyFile('commands');
    process.env[variable] = file;
    write(name, value);
    expect(parseHeredocs(readFileSync(file, 'utf8'))).toEqual({ [name]: expected });
    expect(stdout).toEqual([]);
  });

  it('appends, keeping earlier entries, each block ending in a newline', () => {
    const file = emptyFile('commands');
    process.env[variable] = file;
    write('first', 'one\ntwo');
    write('second', 'three');
    const text = readFileSync(file, 'utf8');
    expect(text.endsWith(EOL)).toBe(true);
    expect(text.split(EOL)).toHaveLength(8);
    expect(parseHeredocs(text)).toEqual({ first: 'one\ntwo', second: 'three' });
  });

  it('uses a fresh random delimiter for every block', () => {
    const file = emptyFile('commands');
    process.env[variable] = file;
    write('a', '1');
    write('b', '2');
    const delimiters = readFileSync(file, 'utf8').match(/ghadelimiter_[0-9a-f-]{36}/g) ?? [];
    expect(delimiters).toHaveLength(4);
    expect(new Set(delimiters).size).toBe(2);
  });

  it('throws when the file the runner named does not exist', () => {
    process.env[variable] = join(dir, 'missing');
    expect(() => write('a', '1')).toThrow(/Missing file/);
  });
});

describe('a value or name containing the delimiter is refused', () => {
  const uuid = '00000000-0000-4000-8000-000000000000';
  const delimiter = `ghadelimiter_${uuid}`;

  it.each([
    ['setOutput value', runner.setOutput, 'GITHUB_OUTPUT', 'out', `x${EOL}${delimiter}${EOL}evil=1`, /value/],
    ['setOutput name', runner.setOutput, 'GITHUB_OUTPUT', `n${delimiter}`, 'v', /name/],
    ['saveState value', runner.saveState, 'GITHUB_STATE', 'st', delimiter, /value/],
  ])('%s throws and writes nothing', (_name, write, variable, name, value, what) => {
    randomUUID.mockReturnValueOnce(uuid);
    const file = emptyFile('commands');
    process.env[variable] = file;
    expect(() => write(name, value)).toThrow(what);
    expect(readFileSync(file, 'utf8')).toBe('');
  });
});

describe('without the file variables the legacy commands are used', () => {
  it.each([
    [
      'setOutput adds a leading newline',
      () => runner.setOutput('digest', 'a\nb'),
      `${EOL}::set-output name=digest::a%0Ab${EOL}`,
    ],
    [
      'setOutput escapes the name property',
      () => runner.setOutput('a:b,c', 'v'),
      `${EOL}::set-output name=a%3Ab%2Cc::v${EOL}`,
    ],
    [
      'setOutput serialises non-strings',
      () => runner.setOutput('n', [1]),
      `${EOL}::set-output name=n::[1]${EOL}`,
    ],
    ['saveState', () => runner.saveState('digest', '50%'), `::save-state name=digest::50%25${EOL}`],
  ])('%s', (_name, call, expected) => {
    call();
    expect(stdout.join('')).toBe(expected);
  });
});

describe('getState reads STATE_ variables', () => {
  it.each([
    ['a saved value', 'sha256:abc', 'sha256:abc'],
    ['nothing saved', undefined, ''],
  ])('%s', (_name, value, expected) => {
    if (value !== undefined) process.env.STATE_digest = value;
    expect(runner.getState('digest')).toBe(expected);
  });
});

describe('setFailed', () => {
  it.each([
    ['a message', 'push failed\nretry', `::error::push failed%0Aretry${EOL}`],
    ['an Error', new Error('denied'), `::error::Error: denied${EOL}`],
  ])('with %s sets exit code 1 and prints an error', (_name, message, expected) => {
    process.exitCode = 0;
    runner.setFailed(message);
    expect(process.exitCode).toBe(1);
    expect(stdout.join('')).toBe(expected);
  });
});

describe('appendSummary', () => {
  it('appends markdown to GITHUB_STEP_SUMMARY', async () => {
    const file = emptyFile('summary.md');
    writeFileSync(file, '# Earlier\n');
    process.env.GITHUB_STEP_SUMMARY = file;
    await runner.appendSummary('| a |\n| - |\n');
    await runner.appendSummary('ünïcode\n');
    expect(readFileSync(file, 'utf8')).toBe('# Earlier\n| a |\n| - |\nünïcode\n');
  });

  it('rejects naming the variable when GITHUB_STEP_SUMMARY is unset', async () => {
    await expect(runner.appendSummary('x')).rejects.toThrow(/GITHUB_STEP_SUMMARY/);
  });

  it('rejects when the summary file cannot be accessed', async () => {
    process.env.GITHUB_STEP_SUMMARY = join(dir, 'no', 'such', 'summary.md');
    await expect(runner.appendSummary('x')).rejects.toThrow(/Unable to access summary file/);
  });
});
