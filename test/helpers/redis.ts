import { type ChildProcess, execFileSync, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import net from 'node:net';
import type { Redis } from 'ioredis';
import { connectRedis, createRedisClient } from '../../src/plugins/redis.js';

export const REDIS_URL = process.env.REDIS_URL ?? 'redis://127.0.0.1:6379';

const CI = process.env.CI === 'true';

let reachable: boolean | undefined;

/**
 * Whether the integration Redis answers. Unreachable: false with a loud message, so the
 * Redis tests skip on a laptop without it; under CI=true that is a failure instead.
 */
export async function redisAvailable(): Promise<boolean> {
  if (reachable !== undefined) return reachable;
  const client = createRedisClient(REDIS_URL);
  try {
    await connectRedis(client, REDIS_URL, 3000);
    reachable = true;
  } catch (error) {
    if (CI) throw new Error(`Redis is required under CI but ${(error as Error).message}`, { cause: error });
    console.warn(
      `\n!!! SKIPPING Redis tests: ${(error as Error).message}\n` +
        '!!! Start it (redis-server) or set REDIS_URL; under CI=true this is a failure.\n',
    );
    reachable = false;
  } finally {
    client.disconnect();
  }
  return reachable;
}

/** A key prefix of its own for one test, so parallel files and reruns never share a key. */
export function testPrefix(): string {
  return `inkstone-test:${randomBytes(6).toString('hex')}:`;
}

/** A connected client with the application's options (no offline queue, no resends). */
export async function connectTestRedis(url = REDIS_URL): Promise<Redis> {
  const client = createRedisClient(url);
  await connectRedis(client, url);
  client.on('error', () => {});
  return client;
}

/** Removes what a test wrote under its prefix (its keys expire anyway; this keeps Redis tidy). */
export async function deleteKeys(client: Redis, prefix: string): Promise<void> {
  let cursor = '0';
  do {
    const [next, keys] = await client.scan(cursor, 'MATCH', `${prefix}*`, 'COUNT', 1000);
    if (keys.length > 0) await client.del(...keys);
    cursor = next;
  } while (cursor !== '0');
}

export async function freePort(): Promise<number> {
  const server = net.createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as net.AddressInfo;
  await new Promise((resolve) => server.close(resolve));
  return port;
}

function hasRedisServer(): boolean {
  try {
    execFileSync('redis-server', ['--version'], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
}

/** A redis-server of the test's own, to stop and start again without touching the shared one. */
export interface OwnRedis {
  url: string;
  port: number;
  /** Kills the server (SIGKILL: a crash, not a clean shutdown) and waits for it to exit. */
  stop(): Promise<void>;
  /** Starts it again on the same port, empty (it saves nothing). */
  start(): Promise<void>;
}

/**
 * Starts `redis-server` on a free port, or returns undefined with a loud message when the
 * binary is missing (a failure under CI=true, whose .ci/run installs it).
 */
export async function startOwnRedis(): Promise<OwnRedis | undefined> {
  if (!hasRedisServer()) {
    if (CI) throw new Error('redis-server is required under CI but is not installed');
    console.warn('\n!!! SKIPPING the Redis restart tests: redis-server is not installed.\n');
    return undefined;
  }
  const port = await freePort();
  let child: ChildProcess | undefined;
  const stop = async () => {
    const running = child;
    child = undefined;
    if (!running || running.exitCode !== null) return;
    const exited = new Promise((resolve) => running.once('exit', resolve));
    running.kill('SIGKILL');
    await exited;
  };
  const start = async () => {
    child = spawn(
      'redis-server',
      ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no'],
      { stdio: 'ignore' },
    );
    // Vitest may end a worker without running afterAll; the server must not outlive it.
    process.once('exit', () => child?.kill('SIGKILL'));
    for (let i = 0; i < 100; i++) {
      if (await answers(port)) return;
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
    throw new Error(`redis-server on port ${port} did not start`);
  };
  await start();
  return { url: `redis://127.0.0.1:${port}`, port, stop, start };
}

async function answers(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = net.connect(port, '127.0.0.1');
    socket.once('error', () => resolve(false));
    socket.once('data', (data) => {
      socket.destroy();
      resolve(data.toString().startsWith('+PONG'));
    });
    socket.write('PING\r\n');
  });
}

export interface TestServer {
  url: string;
  close(): Promise<void>;
}

/** A server that accepts connections and reads everything, and never answers: a hung Redis. */
export async function startSilentServer(): Promise<TestServer> {
  const sockets = new Set<net.Socket>();
  const server = net.createServer((socket) => {
    sockets.add(socket);
    socket.on('data', () => {});
    socket.on('error', () => {});
    socket.on('close', () => sockets.delete(socket));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as net.AddressInfo;
  return {
    url: `redis://127.0.0.1:${port}`,
    close: async () => {
      for (const socket of sockets) socket.destroy();
      await new Promise((resolve) => server.close(resolve));
    },
  };
}

/**
 * A TCP proxy to a real Redis that can be frozen: connections stay open and what the client
 * sends is read, but nothing reaches the client any more (a Redis stuck mid-connection,
 * which a connection refusal does not show). Thawing delivers what was held back.
 */
export interface FreezableProxy extends TestServer {
  freeze(): void;
  thaw(): void;
}

export async function startFreezableProxy(target: string): Promise<FreezableProxy> {
  const { hostname, port: targetPort } = new URL(target);
  const connections = new Set<{ client: net.Socket; upstream: net.Socket; held: Buffer[] }>();
  let frozen = false;
  const server = net.createServer((client) => {
    const upstream = net.connect(Number(targetPort || 6379), hostname);
    const connection = { client, upstream, held: [] as Buffer[] };
    connections.add(connection);
    client.on('data', (chunk) => upstream.write(chunk));
    upstream.on('data', (chunk: Buffer) => (frozen ? connection.held.push(chunk) : client.write(chunk)));
    const end = () => {
      client.destroy();
      upstream.destroy();
      connections.delete(connection);
    };
    client.on('error', end).on('close', end);
    upstream.on('error', end).on('close', end);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as net.AddressInfo;
  return {
    url: `redis://127.0.0.1:${port}`,
    freeze: () => {
      frozen = true;
    },
    thaw: () => {
      frozen = false;
      for (const connection of connections) {
        for (const chunk of connection.held.splice(0)) connection.client.write(chunk);
      }
    },
    close: async () => {
      for (const { client, upstream } of connections) {
        client.destroy();
        upstream.destroy();
      }
      await new Promise((resolve) => server.close(resolve));
    },
  };
}
