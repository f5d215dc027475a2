// Servers the page bench starts as plain processes rather than IPC children: Inkstone's own
// `inkstone serve --workers N` (the cluster as users run it) and a bare node:cluster serving
// the home page's bytes (the limit for it). Neither reports its CPU: a cluster is many processes.
import { type ChildProcess, spawn } from 'node:child_process';
import { setTimeout as sleep } from 'node:timers/promises';
import { freePort, nodeOn, ROOT } from '../ai/children.js';
import type { InkstoneCommand } from '../ai/ipc.js';
import { buildInkstone } from '../build.js';

/** What the bench needs of a server under test: its address, its CPU time, and a way to stop it. */
export interface Server {
  readonly name: string;
  readonly ready: { url: string };
  /** The process (a cluster's primary); undefined if it could not be started. */
  readonly pid: number | undefined;
  call<T>(command: InkstoneCommand): Promise<T>;
  close(): Promise<void>;
}

class SpawnedServer implements Server {
  constructor(
    readonly name: string,
    private readonly process: ChildProcess,
    readonly ready: { url: string },
    private readonly stderr: () => string,
  ) {}

  get pid(): number | undefined {
    return this.process.pid;
  }

  async call<T>(command: InkstoneCommand): Promise<T> {
    // NaN: the report shows no CPU figure rather than one process's share of a cluster.
    if (command.type === 'cpu') return NaN as T;
    if (command.type === 'close') return (await this.close()) as T;
    throw new Error(`${this.name} does not answer ${command.type}`);
  }

  async close(): Promise<void> {
    if (this.process.exitCode !== null || this.process.signalCode !== null) return;
    const exited = new Promise((resolve) => this.process.once('exit', resolve));
    this.process.kill('SIGTERM');
    const timeout = sleep(10_000).then(() => 'timeout');
    if ((await Promise.race([exited, timeout])) === 'timeout') {
      this.process.kill('SIGKILL');
      throw new Error(`${this.name} did not stop on SIGTERM:\n${this.stderr()}`);
    }
  }
}

/**
 * Starts an entry point with `args` on a free port (PORT) and waits for GET / to answer 200:
 * TypeScript through tsx; `bin/inkstone.js` as users run it, from dist/ (built first if stale).
 */
export async function spawnServer(
  name: string,
  entry: string,
  args: string[],
  env: NodeJS.ProcessEnv,
  /** Pin the server, and the processes it forks, to this CPU (the caller checked it can pin). */
  cpu?: number,
): Promise<Server> {
  const port = await freePort();
  if (entry === 'bin/inkstone.js') await buildInkstone();
  const node = nodeOn(cpu, [...(entry.endsWith('.ts') ? ['--import', 'tsx'] : []), entry, ...args]);
  const child = spawn(node.file, node.args, {
    cwd: ROOT,
    env: { ...env, HOST: '127.0.0.1', PORT: String(port) },
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  let stderr = '';
  child.stderr?.on('data', (chunk: Buffer) => {
    stderr = (stderr + chunk.toString()).slice(-4000);
  });
  const url = `http://127.0.0.1:${port}`;
  const server = new SpawnedServer(name, child, { url }, () => stderr);
  const deadline = Date.now() + 60_000;
  for (;;) {
    if (child.exitCode !== null)
      throw new Error(`${name} exited (${child.exitCode}) before it answered:\n${stderr}`);
    const answer = await fetch(`${url}/`).catch(() => undefined);
    if (answer) await answer.arrayBuffer();
    if (answer?.status === 200) break;
    if (Date.now() > deadline) {
      await server.close().catch(() => {});
      throw new Error(`${name} did not answer within 60 s:\n${stderr}`);
    }
    await sleep(200);
  }
  // The first worker answers before the others have started: give them a moment.
  await sleep(1000);
  return server;
}
