import { spawn } from 'node:child_process';
import type { Readable } from 'node:stream';
import type { Logger } from '../log.js';

/** A docker CLI call that exited non-zero; `stderr` is what docker said. */
export class DockerError extends Error {
  constructor(
    readonly args: string[],
    readonly exitCode: number | null,
    readonly stderr: string,
  ) {
    super(`docker ${args[0]} failed (exit ${exitCode}): ${stderr.trim() || 'no output'}`);
    this.name = 'DockerError';
  }
}

export interface RunOptions {
  /** Written to docker's stdin: the only way a secret reaches docker. */
  stdin?: string;
  /** Each line of stdout/stderr as it arrives (build logs). */
  onLine?: (line: string) => void;
}

export interface RunResult {
  stdout: string;
  stderr: string;
}

/** The docker CLI, with its own DOCKER_CONFIG when the action logged in itself. */
export class Docker {
  constructor(
    private readonly log: Logger,
    readonly configDir?: string,
  ) {}

  private env(): NodeJS.ProcessEnv {
    const env = { ...process.env };
    // The runner exposes inputs as INPUT_* to us; docker has no business seeing them.
    for (const key of Object.keys(env)) if (key.startsWith('INPUT_')) delete env[key];
    if (this.configDir) env.DOCKER_CONFIG = this.configDir;
    return env;
  }

  private start(args: string[], stdin?: string) {
    this.log.debug(`docker ${args.join(' ')}`);
    const child = spawn('docker', args, { env: this.env(), stdio: ['pipe', 'pipe', 'pipe'] });
    child.stdin.on('error', () => undefined); // docker may exit before reading stdin
    child.stdin.end(stdin ?? '');
    return child;
  }

  run(args: string[], options: RunOptions = {}): Promise<RunResult> {
    return new Promise((resolve, reject) => {
      const child = this.start(args, options.stdin);
      const out: Buffer[] = [];
      const err: Buffer[] = [];
      const lines = (chunks: Buffer[]) => {
        let rest = '';
        return (chunk: Buffer) => {
          chunks.push(chunk);
          if (!options.onLine) return;
          const text = rest + chunk.toString('utf8');
          const parts = text.split(/\r?\n/);
          rest = parts.pop() ?? '';
          for (const line of parts) if (line) options.onLine(line);
        };
      };
      child.stdout.on('data', lines(out));
      child.stderr.on('data', lines(err));
      child.on('error', (e) =>
        reject(new DockerError(args, null, `cannot run docker: ${e.message}. Is the docker CLI installed?`)),
      );
      child.on('close', (code) => {
        const result = {
          stdout: Buffer.concat(out).toString('utf8'),
          stderr: Buffer.concat(err).toString('utf8'),
        };
        if (code === 0) resolve(result);
        else reject(new DockerError(args, code, result.stderr || result.stdout));
      });
    });
  }

  /** stdout as a stream (docker save of large images); `done` rejects on a non-zero exit. */
  stream(args: string[]): { stdout: Readable; done: Promise<void> } {
    const child = this.start(args);
    const err: Buffer[] = [];
    child.stderr.on('data', (c: Buffer) => err.push(c));
    const done = new Promise<void>((resolve, reject) => {
      child.on('error', (e) => reject(new DockerError(args, null, e.message)));
      child.on('close', (code) =>
        code === 0 ? resolve() : reject(new DockerError(args, code, Buffer.concat(err).toString('utf8'))),
      );
    });
    return { stdout: child.stdout, done };
  }
}
