import { describe, expect, it, jest, beforeEach } from '@jest/globals';
import type * as Exec from '@actions/exec';

// @actions/exec replaced: each call is recorded and answered by `answer`.
type Call = { tool: string; args: string[]; options: Exec.ExecOptions };
const calls: Call[] = [];
let answer: (c: Call) => Promise<number> = async () => 0;
jest.unstable_mockModule('@actions/exec', () => ({
  exec: async (tool: string, args: string[] = [], options: Exec.ExecOptions = {}) => {
    const call = { tool, args, options };
    calls.push(call);
    return answer(call);
  },
}));
const { Docker, DockerError } = await import('../../../src/docker/cli.js');

const debug: string[] = [];
const log = { debug: (m: string) => debug.push(m), info: () => {}, warning: () => {} };

beforeEach(() => {
  calls.length = 0;
  debug.length = 0;
  answer = async () => 0;
});

describe('Docker.run through @actions/exec', () => {
  it('runs docker silently, argv at debug level only, the secret on stdin only', async () => {
    const docker = new Docker(log, '/tmp/cfg');
    process.env.INPUT_PASSWORD = 'hunter2';
    try {
      await docker.run(['login', '--username', 'me', '--password-stdin', 'ghcr.io'], { stdin: 'hunter2' });
    } finally {
      delete process.env.INPUT_PASSWORD;
    }
    const [c] = calls;
    expect(c!.tool).toBe('docker');
    expect(c!.args).toEqual(['login', '--username', 'me', '--password-stdin', 'ghcr.io']);
    expect(c!.options.silent).toBe(true);
    expect(c!.options.input?.toString()).toBe('hunter2');
    expect(c!.options.env?.DOCKER_CONFIG).toBe('/tmp/cfg');
    expect(Object.keys(c!.options.env ?? {}).filter((k) => k.startsWith('INPUT_'))).toEqual([]);
    expect(JSON.stringify(c!.args)).not.toContain('hunter2');
    expect(debug).toEqual(['docker login --username me --password-stdin ghcr.io']);
  });

  it('gives no stdin to a call that reads none (exec would close it after the child left)', async () => {
    await new Docker(log).run(['image', 'inspect', 'x']);
    expect(calls[0]!.options.input).toBeUndefined();
    expect(calls[0]!.options.ignoreReturnCode).toBe(true);
  });

  it('returns stdout and stderr, and passes lines to onLine as they come', async () => {
    answer = async (c) => {
      c.options.listeners?.stdout?.(Buffer.from('out\n'));
      c.options.listeners?.stderr?.(Buffer.from('err\n'));
      c.options.listeners?.stdline?.('Step 1/2 : FROM x\r');
      c.options.listeners?.errline?.('   ');
      return 0;
    };
    const lines: string[] = [];
    const r = await new Docker(log).run(['build', '.'], { onLine: (l) => lines.push(l) });
    expect(r).toEqual({ stdout: 'out\n', stderr: 'err\n' });
    expect(lines).toEqual(['Step 1/2 : FROM x']);
  });

  it.each([
    ['a non-zero exit: a DockerError with the exit code and stderr', 1, 'no such image', 'no such image'],
    ['stdout when stderr is empty', 2, '', 'stdout said it'],
  ])('%s', async (_name, code, stderr, said) => {
    answer = async (c) => {
      if (stderr) c.options.listeners?.stderr?.(Buffer.from(stderr));
      c.options.listeners?.stdout?.(Buffer.from('stdout said it'));
      return code;
    };
    const err = await new Docker(log).run(['pull', 'x']).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(DockerError);
    expect((err as InstanceType<typeof DockerError>).exitCode).toBe(code);
    expect((err as InstanceType<typeof DockerError>).stderr).toBe(said);
  });

  it('a docker that cannot be started is a DockerError that says so', async () => {
    answer = async () => {
      throw new Error('Unable to locate executable file: docker');
    };
    await expect(new Docker(log).run(['version'])).rejects.toThrow(
      /cannot run docker: Unable to locate executable file: docker\. Is the docker CLI installed\?/,
    );
  });
});
