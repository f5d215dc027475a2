import { type ChildProcess, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { once } from 'node:events';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterEach, describe, expect, inject, it } from 'vitest';
import { wantsSingleThreadedGc } from '../../src/cli/one-cpu.js';
import { serveEnv } from '../cluster/cli.js';
import { freePort } from '../helpers/redis.js';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));

describe('which serve runs with V8’s collector on the main thread', () => {
  it('one CPU and no choice on the command line', () => {
    expect(wantsSingleThreadedGc([], 1)).toBe(true);
    expect(wantsSingleThreadedGc(['--import', 'tsx'], 1)).toBe(true);
  });

  it('not with more CPUs, nor when the command line chose either way', () => {
    expect(wantsSingleThreadedGc([], 2)).toBe(false);
    expect(wantsSingleThreadedGc(['--single-threaded-gc'], 1)).toBe(false);
    expect(wantsSingleThreadedGc(['--no-single-threaded-gc'], 1)).toBe(false);
    expect(wantsSingleThreadedGc(['--single_threaded_gc'], 1)).toBe(false);
  });
});

/** `inkstone serve` on CPU 0 only (taskset), as on a one-CPU machine; its output as it comes. */
async function serveOnOneCpu(nodeFlags: string[]) {
  const port = await freePort();
  const env = serveEnv(port, join(inject('testDataFolder'), `one-cpu-${randomBytes(4).toString('hex')}.db`));
  const child = spawn(
    'taskset',
    ['-c', '0', process.execPath, ...nodeFlags, '--import', 'tsx', 'src/cli/index.ts', 'serve'],
    { cwd: ROOT, env, stdio: ['ignore', 'pipe', 'pipe'] },
  );
  let output = '';
  child.stdout!.on('data', (chunk: Buffer) => (output += chunk.toString()));
  child.stderr!.on('data', (chunk: Buffer) => (output += chunk.toString()));
  const deadline = Date.now() + 60_000;
  while (!output.includes('Inkstone is running')) {
    if (child.exitCode !== null) throw new Error(`serve exited (${child.exitCode}): ${output}`);
    if (Date.now() > deadline) throw new Error(`serve did not start within 60 s: ${output}`);
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  const health = await fetch(`http://127.0.0.1:${port}/healthz`);
  return { child, port, output: () => output, healthStatus: health.status };
}

describe('inkstone serve on one CPU', { timeout: 120_000 }, () => {
  let child: ChildProcess | undefined;
  afterEach(() => {
    if (child && child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
    child = undefined;
  });

  it('runs again with the collector on the main thread, serves, and ends on SIGTERM as the server does', async () => {
    const served = await serveOnOneCpu([]);
    child = served.child;
    expect(served.healthStatus).toBe(200);
    expect(served.output()).toContain('garbage collector on the main thread');
    child.kill('SIGTERM');
    const [code] = (await once(child, 'exit')) as [number | null];
    // The launcher passed the signal on and exited as the server did: a graceful shutdown.
    expect(served.output()).toContain('shutting down');
    expect(code).toBe(0);
  });

  it('takes its server down with it when the launcher is killed outright (SIGKILL)', async () => {
    const served = await serveOnOneCpu([]);
    child = served.child;
    const { port } = served;
    expect(served.healthStatus).toBe(200);
    child.kill('SIGKILL');
    await once(child, 'exit');
    const deadline = Date.now() + 20_000;
    let up = true;
    while (up && Date.now() < deadline) {
      up = await fetch(`http://127.0.0.1:${port}/healthz`).then(
        () => true,
        () => false,
      );
      if (up) await new Promise((resolve) => setTimeout(resolve, 100));
    }
    expect(up).toBe(false);
  });

  it('(control) keeps V8’s default when the command line says --no-single-threaded-gc', async () => {
    const served = await serveOnOneCpu(['--no-single-threaded-gc']);
    child = served.child;
    expect(served.healthStatus).toBe(200);
    expect(served.output()).not.toContain('garbage collector on the main thread');
  });
});
