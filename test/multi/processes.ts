import { type ChildProcess, spawn, spawnSync } from 'node:child_process';
import { chmodSync, existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import net from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { freePort } from '../helpers/redis.js';

// The processes of a scale-out test: `inkstone serve` children and Debian's nginx started on
// the shipped deploy/nginx/inkstone.conf. Each is killed if the test process exits without
// its afterAll (vitest may end a worker that way).

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
export const SHIPPED_NGINX_CONF = join(ROOT, 'deploy/nginx/inkstone.conf');
const NGINX = '/usr/sbin/nginx';
const CI = process.env.CI === 'true';

function killOnExit(child: ChildProcess, signal: NodeJS.Signals = 'SIGKILL'): void {
  const kill = () => child.kill(signal);
  process.once('exit', kill);
  child.once('exit', () => process.off('exit', kill));
}

async function stop(child: ChildProcess, signal: NodeJS.Signals = 'SIGTERM'): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise((resolve) => child.once('exit', resolve));
  child.kill(signal);
  await exited;
}

export interface Instance {
  url: string;
  port: number;
  /** Everything it wrote (JSON log lines) so far. */
  output(): string;
  /** Its request log: the `incoming request` lines, as Fastify's pino writes them. */
  requests(): { url: string; remoteAddress: string; remotePort: number; reqId: string }[];
  stop(): Promise<void>;
}

/** `inkstone serve` (the CLI through tsx) on a free port, once it answers /healthz. */
export async function startInstance(env: Record<string, string>): Promise<Instance> {
  const port = await freePort();
  const child = spawn(process.execPath, ['--import', 'tsx', 'src/cli/index.ts', 'serve'], {
    cwd: ROOT,
    env: { ...process.env, ...env, HOST: '127.0.0.1', PORT: String(port) },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  killOnExit(child);
  let output = '';
  child.stdout!.on('data', (chunk: Buffer) => (output += chunk.toString()));
  child.stderr!.on('data', (chunk: Buffer) => (output += chunk.toString()));
  const url = `http://127.0.0.1:${port}`;
  // Compiling the sources through tsx takes a few seconds, and far longer on a busy machine.
  const deadline = Date.now() + 60_000;
  for (;;) {
    if (child.exitCode !== null) throw new Error(`inkstone serve exited (${child.exitCode}): ${output}`);
    const ok = await fetch(`${url}/healthz`).then(
      (r) => r.ok,
      () => false,
    );
    if (ok) break;
    if (Date.now() > deadline) throw new Error(`inkstone serve did not answer within 60 s: ${output}`);
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  const requests = () =>
    output
      .split('\n')
      .filter((line) => line.includes('"incoming request"'))
      .map((line) => {
        const entry = JSON.parse(line) as {
          reqId: string;
          req: { url: string; remoteAddress: string; remotePort: number };
        };
        const { url, remoteAddress, remotePort } = entry.req;
        return { url, remoteAddress, remotePort, reqId: entry.reqId };
      });
  return { url, port, output: () => output, requests, stop: () => stop(child) };
}

/**
 * What `read` gives once `done` accepts it, or after `ms` whatever it gives then: an
 * instance's log line reaches this process through a pipe, often after its response.
 */
export async function settled<T>(read: () => T, done: (value: T) => boolean, ms = 2000): Promise<T> {
  const deadline = Date.now() + ms;
  let value = read();
  while (!done(value) && Date.now() < deadline) {
    await new Promise((resolve) => setTimeout(resolve, 20));
    value = read();
  }
  return value;
}

/** Whether nginx can run here; false (loudly) on a laptop without it, an error under CI. */
export function nginxAvailable(): boolean {
  if (existsSync(NGINX)) return true;
  if (CI) throw new Error(`nginx is required under CI (.ci/run installs it) but ${NGINX} is missing`);
  console.warn(`\n!!! SKIPPING the nginx tests: ${NGINX} is not installed (apt-get install nginx).\n`);
  return false;
}

/** Replaces `pattern`, which must occur exactly once: a changed shipped file fails loudly here. */
function replaceOnce(text: string, pattern: RegExp, replacement: string): string {
  const global = new RegExp(
    pattern.source,
    pattern.flags.includes('g') ? pattern.flags : `${pattern.flags}g`,
  );
  const count = text.match(global)?.length ?? 0;
  if (count !== 1)
    throw new Error(`deploy/nginx/inkstone.conf: expected ${pattern} once, found it ${count} times`);
  return text.replace(pattern, replacement);
}

export interface RenderOptions {
  /** host:port of each instance. */
  instances: string[];
  port: number;
  cacheDir: string;
}

/**
 * The shipped config with only what differs on a test machine replaced: the instance list
 * (between its markers), the listen line and the cache folder.
 */
export function renderNginxConf(shipped: string, options: RenderOptions): string {
  let text = replaceOnce(
    shipped,
    /(# BEGIN inkstone instances\n)[\s\S]*?(\n\s*# END inkstone instances)/,
    `$1${options.instances.map((address) => `    server ${address} max_fails=3 fail_timeout=10s;`).join('\n')}$2`,
  );
  text = replaceOnce(text, /^(\s*)listen 80;$/m, `$1listen 127.0.0.1:${options.port};`);
  text = replaceOnce(
    text,
    /proxy_cache_path \/var\/cache\/nginx\/inkstone /,
    `proxy_cache_path ${options.cacheDir} `,
  );
  return text;
}

/** A main nginx.conf for a non-root-owned, non-daemon nginx whose every path is in `dir`. */
function mainConf(dir: string): string {
  return `daemon off;
worker_processes 1;
pid ${dir}/nginx.pid;
error_log stderr warn;
events { worker_connections 512; }
http {
  client_body_temp_path ${dir}/client_body;
  proxy_temp_path ${dir}/proxy;
  fastcgi_temp_path ${dir}/fastcgi;
  uwsgi_temp_path ${dir}/uwsgi;
  scgi_temp_path ${dir}/scgi;
  # Which instance answered each request, for the test to count.
  # $request, the request line as sent: error_page turns a PURGE's $request_method into GET.
  # Tabs between fields: one that tried two instances names both ("127.0.0.1:1, 127.0.0.1:2").
  log_format upstreams '$request\t$status\t$upstream_cache_status\t$upstream_addr';
  access_log ${dir}/access.log upstreams;
  include ${dir}/inkstone.conf;
}
`;
}

export interface Nginx {
  url: string;
  port: number;
  dir: string;
  /** The access log: method and URI as sent, status, the cache status, the instance(s) tried. */
  log(): { method: string; uri: string; status: number; upstream: string; cache: string }[];
  output(): string;
  stop(): Promise<void>;
}

function prepare(instances: string[], port: number) {
  const dir = mkdtempSync(join(tmpdir(), 'inkstone-nginx-'));
  // Run as root, nginx's workers run as nobody: they must reach the temp and cache folders.
  chmodSync(dir, 0o755);
  const conf = renderNginxConf(readFileSync(SHIPPED_NGINX_CONF, 'utf8'), {
    instances,
    port,
    cacheDir: join(dir, 'cache'),
  });
  writeFileSync(join(dir, 'inkstone.conf'), conf);
  writeFileSync(join(dir, 'nginx.conf'), mainConf(dir));
  return { dir, args: ['-p', dir, '-c', join(dir, 'nginx.conf'), '-e', 'stderr'] };
}

/** `nginx -t` on the shipped file (rendered): its exit status and what it said. */
export function testNginxConf(): { status: number | null; output: string } {
  const { dir, args } = prepare(['127.0.0.1:3000', '127.0.0.1:3001'], 8080);
  try {
    const result = spawnSync(NGINX, ['-t', ...args], { encoding: 'utf8' });
    return { status: result.status, output: `${result.stdout}${result.stderr}` };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/** nginx in the foreground on a free port, in front of `instances`, once it accepts connections. */
export async function startNginx(instances: string[], options: { port?: number } = {}): Promise<Nginx> {
  const port = options.port ?? (await freePort());
  const { dir, args } = prepare(instances, port);
  const child = spawn(NGINX, args, { stdio: ['ignore', 'pipe', 'pipe'] });
  // SIGTERM even then: a master killed outright leaves its worker and cache manager running.
  killOnExit(child, 'SIGTERM');
  let output = '';
  child.stdout!.on('data', (chunk: Buffer) => (output += chunk.toString()));
  child.stderr!.on('data', (chunk: Buffer) => (output += chunk.toString()));
  const deadline = Date.now() + 10_000;
  while (!(await accepts(port))) {
    if (child.exitCode !== null) throw new Error(`nginx exited (${child.exitCode}): ${output}`);
    if (Date.now() > deadline) throw new Error(`nginx did not listen within 10 s: ${output}`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  const log = () =>
    readFileSync(join(dir, 'access.log'), 'utf8')
      .split('\n')
      .filter(Boolean)
      .map((line) => {
        const [request, status, cache, upstream] = line.split('\t') as [string, string, string, string];
        const [method, uri] = request.split(' ') as [string, string];
        return { method, uri, status: Number(status), cache, upstream };
      });
  return {
    url: `http://127.0.0.1:${port}`,
    port,
    dir,
    log,
    output: () => output,
    stop: async () => {
      // SIGTERM: nginx's fast shutdown (SIGQUIT would wait for open streams).
      await stop(child);
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

function accepts(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = net.connect(port, '127.0.0.1');
    socket.once('connect', () => {
      socket.destroy();
      resolve(true);
    });
    socket.once('error', () => resolve(false));
  });
}

/**
 * A GET from a chosen local address (any of 127.0.0.0/8 reaches a loopback listener), so
 * the address nginx sees differs from the one the instances see nginx connect from.
 */
export function getFrom(
  localAddress: string,
  url: string,
  headers: Record<string, string> = {},
): Promise<{ status: number; headers: http.IncomingHttpHeaders; body: string }> {
  return new Promise((resolve, reject) => {
    const request = http.get(url, { localAddress, headers, agent: false }, (response) => {
      let body = '';
      response.setEncoding('utf8');
      response.on('data', (chunk: string) => (body += chunk));
      response.on('end', () => resolve({ status: response.statusCode!, headers: response.headers, body }));
      response.on('error', reject);
    });
    request.on('error', reject);
  });
}
