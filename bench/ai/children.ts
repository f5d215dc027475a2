// Forks the bench's child processes (TypeScript through tsx's loader), optionally pinned to
// one CPU with taskset, and talks to them over IPC: one request, one reply.
import { type ChildProcess, execFileSync, fork } from 'node:child_process';
import { createServer } from 'node:net';
import { fileURLToPath } from 'node:url';
import type { Command, InkstoneCommand, Ready, Reply } from './ipc.js';
import { buildInkstone } from '../build.js';

export const ROOT = fileURLToPath(new URL('../../', import.meta.url));

export interface ForkOptions {
  /** Pin the process (all its threads) to this CPU. */
  cpu?: number;
  /** Extra node flags: --cpu-prof, --expose-gc. */
  nodeArgs?: string[];
  env?: NodeJS.ProcessEnv;
}

let hasTaskset: boolean | undefined;

/** Whether CPUs can be pinned here (Linux with util-linux's taskset). */
export function canPin(): boolean {
  if (hasTaskset === undefined) {
    try {
      execFileSync('taskset', ['-V'], { stdio: 'ignore' });
      hasTaskset = true;
    } catch {
      hasTaskset = false;
    }
  }
  return hasTaskset;
}

/** The CPUs this process could run on before pinSelf (taskset's list, "0-3"): see nodeOn. */
let unpinnedCpus: string | undefined;

/** Pins this process, every thread of it, to one CPU. */
export function pinSelf(cpu: number): void {
  // "pid 123's current affinity list: 0,1"
  unpinnedCpus ??= execFileSync('taskset', ['-c', '-p', String(process.pid)], { encoding: 'utf8' })
    .split(':')
    .pop()
    ?.trim();
  execFileSync('taskset', ['-a', '-p', '-c', String(cpu), String(process.pid)], { stdio: 'ignore' });
}

export class Child<C extends Command> {
  private next = 0;
  private readonly pending = new Map<
    number,
    { resolve: (value: unknown) => void; reject: (e: Error) => void }
  >();
  readonly exited: Promise<number | null>;

  constructor(
    readonly name: string,
    private readonly process: ChildProcess,
    readonly ready: Ready,
  ) {
    process.on('message', (reply: Reply) => {
      const waiting = this.pending.get(reply.id);
      if (!waiting) return;
      this.pending.delete(reply.id);
      if (reply.ok) waiting.resolve(reply.result);
      else waiting.reject(new Error(`${name}: ${reply.error}`));
    });
    this.exited = new Promise((resolve) => {
      process.once('exit', (code) => {
        for (const waiting of this.pending.values()) waiting.reject(new Error(`${name} exited (${code})`));
        this.pending.clear();
        resolve(code);
      });
    });
  }

  get pid(): number | undefined {
    return this.process.pid;
  }

  call<R>(command: C): Promise<R> {
    const id = this.next++;
    return new Promise<R>((resolve, reject) => {
      this.pending.set(id, { resolve: resolve as (value: unknown) => void, reject });
      this.process.send({ id, command });
    });
  }

  /** Asks the child to close and waits for it to exit; kills it if it takes more than 10 s. */
  async close(): Promise<void> {
    if (this.process.exitCode !== null || this.process.signalCode !== null) return;
    const timer = setTimeout(() => this.process.kill('SIGKILL'), 10_000);
    try {
      await this.call({ type: 'close' } as C).catch(() => undefined);
      await this.exited;
    } finally {
      clearTimeout(timer);
    }
  }
}

/** Node with these arguments, alone on `cpu` when one is given (taskset; its children inherit it). */
export function nodeOn(cpu: number | undefined, nodeArgs: string[]): { file: string; args: string[] } {
  if (cpu !== undefined) return { file: 'taskset', args: ['-c', String(cpu), process.execPath, ...nodeArgs] };
  // A child inherits its parent's affinity: once this process has pinned itself to the load
  // generator's CPU, a child meant to spread (a cluster) would be confined to that CPU too.
  if (unpinnedCpus) return { file: 'taskset', args: ['-c', unpinnedCpus, process.execPath, ...nodeArgs] };
  return { file: process.execPath, args: nodeArgs };
}

/** Starts `file` (relative to bench/ai/) and waits for its `ready` message. */
export async function forkChild<C extends Command>(
  name: string,
  file: string,
  options: ForkOptions = {},
): Promise<Child<C>> {
  const modulePath = fileURLToPath(new URL(file, import.meta.url));
  // --import is resolved from the working directory: the repository root, where tsx is installed.
  const node = nodeOn(options.cpu, ['--import', 'tsx', ...(options.nodeArgs ?? [])]);
  const child = fork(modulePath, [], {
    cwd: ROOT,
    env: options.env ?? process.env,
    serialization: 'advanced', // structured clone: Infinity and nested objects survive
    execPath: node.file,
    execArgv: node.args,
  });
  const ready = await new Promise<Ready>((resolve, reject) => {
    const onExit = (code: number | null) => reject(new Error(`${name} exited (${code}) before it was ready`));
    child.once('exit', onExit);
    child.once('error', reject);
    child.once('message', (message: Ready) => {
      child.off('exit', onExit);
      child.off('error', reject);
      resolve(message);
    });
  });
  return new Child<C>(name, child, ready);
}

/** An Inkstone child (inkstone-child.ts), running dist/: built first if src/ changed since. */
export async function forkInkstone(
  name: string,
  options: ForkOptions & { log?: (line: string) => void } = {},
): Promise<Child<InkstoneCommand>> {
  await buildInkstone(options.log);
  return forkChild<InkstoneCommand>(name, './inkstone-child.ts', options);
}

/** A port free right now on 127.0.0.1 (another process could take it before it is used: unlikely). */
export async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', resolve);
  });
  const address = server.address();
  await new Promise((resolve) => server.close(resolve));
  if (address === null || typeof address === 'string') throw new Error('no TCP port');
  return address.port;
}
