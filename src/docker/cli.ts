import * as exec from '@actions/exec';
import { constants, open as openCallback } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { Socket } from 'node:net';
import * as os from 'node:os';
import * as path from 'node:path';
import type { Readable } from 'node:stream';
import { promisify } from 'node:util';
import type { Logger } from '../log.js';
import { childEnv } from '../secrets.js';
import type { Engine, EngineAuth, EnginePush, PushMessage } from './engine.js';

const openFd = promisify(openCallback);

/** `docker push` output: `<tag>: digest: sha256:... size: N`. */
export function pushedDigest(output: string): string | undefined {
  return /digest: (sha256:[0-9a-f]{64})/.exec(output)?.[1];
}

/**
 * A command line as the debug log shows it: a build argument by its name only, since a value
 * may be a token someone passed as a build argument (docker stores them in the image history
 * too, but that is theirs to decide; our log is ours).
 */
export function shownArgs(args: string[]): string[] {
  return args.map((a, i) => (args[i - 1] === '--build-arg' ? a.replace(/=[\s\S]*$/, '=***') : a));
}

/**
 * docker's words with what a credential helper printed taken out: the CLI quotes a failing
 * helper's whole output (`error getting credentials - err: …, out: \`…\``), which may be the
 * very secret the helper guards, and nothing can mask a secret nobody told us.
 */
export function withoutHelperOutput(text: string): string {
  return text.replace(/(error getting credentials - err: [^\n]*?, out: )`[^`]*`/g, '$1(not shown)');
}

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
  /** Written to docker's stdin: the only way a secret reaches docker (and `docker load`'s archive). */
  stdin?: string | Buffer;
  /** Each line of stdout/stderr as it arrives (build logs). */
  onLine?: (line: string) => void;
  /** Variables added to docker's environment for this call alone (build secrets). */
  env?: Record<string, string>;
}

export interface RunResult {
  stdout: string;
  stderr: string;
}

/** What a stream's reader did, so a broken pipe it caused is not blamed on docker. */
const READER_CLOSED = 'the reader closed the pipe early (broken pipe)';

/**
 * The docker CLI, through @actions/exec, with its own DOCKER_CONFIG when the action logged in
 * itself; inspect, tag and push go to the daemon's socket instead when `engine` reaches it.
 */
export class Docker {
  constructor(
    private readonly log: Logger,
    readonly configDir?: string,
    readonly engine?: Engine,
  ) {}

  /** `docker image inspect <ref>` as JSON (the API's own form, which `{{json .}}` prints). */
  async inspect(ref: string): Promise<unknown> {
    if (!this.engine)
      return JSON.parse((await this.run(['image', 'inspect', '--format', '{{json .}}', ref])).stdout);
    this.log.debug(`docker image inspect ${ref} (Engine API)`);
    return this.engine.inspect(ref);
  }

  /** `docker tag <image> <ref>`. */
  async tag(image: string, ref: string): Promise<void> {
    if (!this.engine) return void (await this.run(['tag', image, ref]));
    this.log.debug(`docker tag ${image} ${ref} (Engine API)`);
    await this.engine.tag(image, ref);
  }

  /** `docker load` of an archive held in memory. */
  async load(tar: Buffer): Promise<void> {
    if (!this.engine) return void (await this.run(['load', '--quiet'], { stdin: tar }));
    this.log.debug('docker load (Engine API)');
    await this.engine.load(tar);
  }

  /** `docker pull <ref>`: through the API with `auth`, else the CLI once `loggedIn` resolves. */
  async pull(ref: string, o: { auth?: EngineAuth; loggedIn?: Promise<void> } = {}): Promise<void> {
    if (!this.engine || !o.auth) {
      await o.loggedIn;
      await this.run(['pull', '--quiet', ref]);
      return;
    }
    this.log.debug(`docker pull ${ref} (Engine API)`);
    await this.engine.pull(ref, o.auth);
  }

  /**
   * `docker push <ref>`: through the API with `auth` (the step's own credentials for that
   * registry, given to the daemon in the request), else the CLI with docker's login, once
   * `loggedIn` resolves. `onMessage` sees the API's messages as they come (progress).
   */
  async push(
    ref: string,
    o: { auth?: EngineAuth; loggedIn?: Promise<void>; onMessage?: (m: PushMessage) => void } = {},
  ): Promise<EnginePush> {
    if (!this.engine || !o.auth) {
      await o.loggedIn;
      const output = (await this.run(['push', ref])).stdout;
      return { digest: pushedDigest(output), output };
    }
    this.log.debug(`docker push ${ref} (Engine API)`);
    return this.engine.push(ref, o.auth, o.onMessage);
  }

  /** The runner exposes inputs (tokens among them) as INPUT_* to us; docker sees none of them. */
  private env(extra: Record<string, string> = {}): Record<string, string> {
    return childEnv({ ...(this.configDir ? { DOCKER_CONFIG: this.configDir } : {}), ...extra });
  }

  /**
   * Runs `tool` silently (exec would otherwise echo the command line at info level). stdin is
   * given only to calls that read it: exec has no error handler on the child's stdin, so
   * closing the stdin of a process that already exited would end ours with EPIPE.
   */
  private async exec(
    tool: string,
    args: string[],
    options: exec.ExecOptions,
    extraEnv?: Record<string, string>,
  ): Promise<number | null> {
    try {
      return await exec.exec(tool, args, {
        env: this.env(extraEnv),
        silent: true,
        ignoreReturnCode: true,
        ...options,
      });
    } catch (err) {
      // exec rejects only when the tool cannot be started (not found, not executable).
      const said = err instanceof Error ? err.message : String(err);
      throw new DockerError(args, null, `cannot run docker: ${said}. Is the docker CLI installed?`);
    }
  }

  async run(args: string[], options: RunOptions = {}): Promise<RunResult> {
    this.log.debug(`docker ${shownArgs(args).join(' ')}`);
    const out: Buffer[] = [];
    const err: Buffer[] = [];
    const code = await this.exec(
      'docker',
      args,
      {
        ...(options.stdin !== undefined && {
          input: typeof options.stdin === 'string' ? Buffer.from(options.stdin) : options.stdin,
        }),
        listeners: {
          stdout: (c) => out.push(c),
          stderr: (c) => err.push(c),
          ...(options.onLine && {
            stdline: (line) => line.trim() && options.onLine!(withoutHelperOutput(line.replace(/\r$/, ''))),
            errline: (line) => line.trim() && options.onLine!(withoutHelperOutput(line.replace(/\r$/, ''))),
          }),
        },
      },
      options.env,
    );
    const result = {
      stdout: Buffer.concat(out).toString('utf8'),
      stderr: withoutHelperOutput(Buffer.concat(err).toString('utf8')),
    };
    if (code !== 0) throw new DockerError(args, code, result.stderr || result.stdout);
    return result;
  }

  /**
   * docker's stdout as a stream that docker writes only as fast as it is read (docker save of
   * large images). @actions/exec hands output to listeners with no way to pause the child, so
   * docker writes into a named pipe instead: the kernel's pipe buffer is all that is ever held,
   * and a slow reader blocks docker, never node's heap. `done` rejects on a non-zero exit.
   */
  async stream(args: string[]): Promise<{ stdout: Readable; done: Promise<void> }> {
    this.log.debug(`docker ${shownArgs(args).join(' ')} (stdout to a named pipe)`);
    // Under RUNNER_TEMP, which the runner empties after the job, should this process be killed.
    const dir = await mkdtemp(path.join(process.env.RUNNER_TEMP || os.tmpdir(), 'publish-image-pipe-'));
    const fifo = path.join(dir, 'stdout');
    const err: Buffer[] = [];
    let stdout: Socket;
    try {
      const made = await this.exec('mkfifo', ['-m', '600', fifo], {
        listeners: { stderr: (c) => err.push(c) },
      });
      if (made !== 0)
        throw new DockerError(args, made, `cannot make a pipe for docker: ${Buffer.concat(err)}`);
      // Opened without blocking, before docker is: reads wait for data, and the end comes only
      // once a writer has come and gone. A Socket reads it on the event loop and stops reading
      // when its consumer pauses, which fills the pipe and blocks docker.
      const fd = await openFd(fifo, constants.O_RDONLY | constants.O_NONBLOCK);
      stdout = new Socket({ fd, readable: true, writable: false });
    } catch (e) {
      await rm(dir, { recursive: true, force: true });
      throw e;
    }
    let ended = false;
    stdout.on('end', () => (ended = true));
    // The shell only redirects: `exec` makes docker itself the process, with the pipe as stdout.
    const exited = this.exec('sh', ['-c', 'exec docker "$@" >"$0"', fifo, ...args], {
      listeners: { stderr: (c) => err.push(c) },
    });
    const done = (async () => {
      try {
        const code = await exited;
        if (code === 0) return;
        const said = withoutHelperOutput(Buffer.concat(err).toString('utf8'));
        const early = stdout.destroyed && !ended;
        const error = new DockerError(args, code, said.trim() ? said : early ? READER_CLOSED : '');
        // A docker that failed before it opened the pipe would leave the reader waiting.
        if (!ended) stdout.destroy(error);
        throw error;
      } finally {
        await rm(dir, { recursive: true, force: true });
      }
    })();
    return { stdout, done };
  }
}
