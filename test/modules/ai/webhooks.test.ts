import { createHmac, timingSafeEqual } from 'node:crypto';
import { type LookupAddress } from 'node:dns';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { type AddressInfo } from 'node:net';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { ConfigError, loadConfig } from '../../../src/config.js';
import { addressRefusal } from '../../../src/modules/ai/webhook-guard.js';
import {
  type DeliveryAttempt,
  signWebhook,
  WebhookSender,
  type WebhookSenderOptions,
  webhookSecret,
} from '../../../src/modules/ai/webhooks.js';

const SERVER_SECRET = 'a-session-secret-of-at-least-32-characters';
const SECRET = webhookSecret(SERVER_SECRET, 42);
const PAYLOAD = { id: 'gen_1', status: 'succeeded', output: 'Green tea, brewed at 80 °C.' };

// The recipe documented in src/modules/ai/webhooks.ts (and the README), as a receiver writes it.
function verifyInkstone(rawBody: string, header: string, secret: string, toleranceSeconds = 300): boolean {
  const parts = header
    .split(',')
    .map((part) => [part.slice(0, part.indexOf('=')), part.slice(part.indexOf('=') + 1)] as const);
  const t = Number(parts.find(([key]) => key === 't')?.[1]);
  if (!Number.isInteger(t) || Math.abs(Date.now() / 1000 - t) > toleranceSeconds) return false;
  const expected = createHmac('sha256', secret).update(`${t}.${rawBody}`).digest();
  return parts.some(([key, value]) => {
    const given = Buffer.from(value, 'hex');
    return key === 'v1' && given.length === expected.length && timingSafeEqual(given, expected);
  });
}

interface Received {
  path: string;
  headers: IncomingMessage['headers'];
  body: string;
  at: number;
}

type Handler = (req: IncomingMessage, res: ServerResponse, received: Received) => void;

// The receiver: every request is recorded, then answered by the next scripted handler
// (the last one repeats).
let server: Server;
let port: number;
let base: string;
let received: Received[] = [];
let script: Handler[] = [];

const answer =
  (status: number, headers: Record<string, string> = {}): Handler =>
  (_req, res) => {
    res.writeHead(status, headers);
    res.end(status < 300 ? 'ok' : 'no');
  };
const silent: Handler = () => {};

beforeAll(async () => {
  server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (chunk: Buffer) => chunks.push(chunk));
    req.on('end', () => {
      const entry = {
        path: req.url ?? '',
        headers: req.headers,
        body: Buffer.concat(chunks).toString(),
        at: Date.now(),
      };
      received.push(entry);
      const handler = script[Math.min(received.length - 1, script.length - 1)] ?? answer(200);
      handler(req, res, entry);
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  port = (server.address() as AddressInfo).port;
  base = `http://127.0.0.1:${port}`;
});

afterAll(async () => {
  server.closeAllConnections();
  await new Promise<void>((resolve) => server.close(() => resolve()));
});

beforeEach(() => {
  received = [];
  script = [answer(200)];
});

const noDns = async (hostname: string): Promise<LookupAddress[]> => {
  throw new Error(`unexpected DNS lookup of ${hostname}`);
};

function sender(options: Partial<WebhookSenderOptions> = {}): WebhookSender {
  return new WebhookSender({
    allowHosts: [`127.0.0.1:${port}`],
    timeoutMs: 2000,
    attempts: 5,
    baseDelayMs: 10,
    maxDelayMs: 50,
    random: () => 1,
    lookup: noDns,
    ...options,
  });
}

async function deliver(webhooks: WebhookSender, url: string, signal?: AbortSignal) {
  const attempts: DeliveryAttempt[] = [];
  const result = await webhooks.deliver(url, PAYLOAD, SECRET, (a) => void attempts.push(a), signal);
  return { result, attempts };
}

describe('signing', () => {
  it('derives a per-user secret from the server secret: prefixed, stable, different per user and per server', () => {
    expect(SECRET).toMatch(/^whsec_[A-Za-z0-9_-]{43}$/);
    expect(webhookSecret(SERVER_SECRET, 42)).toBe(SECRET);
    expect(webhookSecret(SERVER_SECRET, 43)).not.toBe(SECRET);
    expect(webhookSecret(`${SERVER_SECRET}!`, 42)).not.toBe(SECRET);
  });

  it('writes t=<seconds>,v1=<hex HMAC-SHA256 of "<t>.<body>">', () => {
    const expected = createHmac('sha256', 'whsec_x').update('1767225600.{"a":1}').digest('hex');
    expect(signWebhook('{"a":1}', 1767225600, 'whsec_x')).toBe(`t=1767225600,v1=${expected}`);
  });

  it('signs each delivery so the documented recipe verifies it with the derived secret', async () => {
    const { result } = await deliver(sender(), `${base}/hook`);
    expect(result).toEqual({ delivered: true, attempts: 1 });
    const [hook] = received;
    expect(hook?.headers['content-type']).toBe('application/json');
    expect(hook?.headers['user-agent']).toBe('Inkstone-Webhooks');
    expect(hook?.headers['inkstone-delivery']).toMatch(/^[0-9a-f-]{36}$/);
    expect(JSON.parse(hook?.body ?? '')).toEqual(PAYLOAD);
    const signature = String(hook?.headers['inkstone-signature']);
    expect(verifyInkstone(hook?.body ?? '', signature, SECRET)).toBe(true);
    // What the recipe must refuse: another user's secret, a changed body, a replay after the tolerance.
    expect(verifyInkstone(hook?.body ?? '', signature, webhookSecret(SERVER_SECRET, 43))).toBe(false);
    expect(verifyInkstone(`${hook?.body} `, signature, SECRET)).toBe(false);
    const old = Math.floor(Date.now() / 1000) - 301;
    expect(verifyInkstone(hook?.body ?? '', signWebhook(hook?.body ?? '', old, SECRET), SECRET)).toBe(false);
  });
});

describe('retries', () => {
  it('retries a 500 until a 2xx, reporting every attempt, with one delivery id and a fresh signature each time', async () => {
    script = [answer(500), answer(503), answer(200)];
    const { result, attempts } = await deliver(sender(), `${base}/hook`);
    expect(result).toEqual({ delivered: true, attempts: 3 });
    expect(attempts.map((a) => [a.attempt, a.status, a.error])).toEqual([
      [1, 500, null],
      [2, 503, null],
      [3, 200, null],
    ]);
    for (const a of attempts) {
      expect(new Date(a.at).toISOString()).toBe(a.at);
      expect(a.durationMs).toBeGreaterThanOrEqual(0);
    }
    expect(new Set(received.map((r) => r.headers['inkstone-delivery'])).size).toBe(1);
    for (const r of received)
      expect(verifyInkstone(r.body, String(r.headers['inkstone-signature']), SECRET)).toBe(true);
  });

  it('gives up after the configured number of attempts', async () => {
    script = [answer(502)];
    const { result, attempts } = await deliver(sender({ attempts: 3 }), `${base}/hook`);
    expect(result).toEqual({ delivered: false, attempts: 3 });
    expect(attempts.map((a) => a.status)).toEqual([502, 502, 502]);
  });

  it('waits as long as Retry-After asks, and no longer than maxDelayMs', async () => {
    // random() = 0 makes the backoff itself zero: only Retry-After can make these waits.
    script = [answer(429, { 'retry-after': '1' }), answer(200)];
    await deliver(sender({ random: () => 0, maxDelayMs: 5000 }), `${base}/hook`);
    expect(received[1]!.at - received[0]!.at).toBeGreaterThanOrEqual(950);

    received = [];
    script = [answer(503, { 'retry-after': '3600' }), answer(200)];
    const { result } = await deliver(sender({ random: () => 0, maxDelayMs: 200 }), `${base}/hook`);
    expect(result).toEqual({ delivered: true, attempts: 2 });
    const gap = received[1]!.at - received[0]!.at;
    expect(gap).toBeGreaterThanOrEqual(180);
    expect(gap).toBeLessThan(1500);
  });

  it('does not retry a 400: the receiver has answered', async () => {
    script = [answer(400)];
    const { result, attempts } = await deliver(sender(), `${base}/hook`);
    expect(result).toEqual({ delivered: false, attempts: 1 });
    expect(attempts).toMatchObject([{ attempt: 1, status: 400, error: null }]);
    expect(received).toHaveLength(1);
  });

  it('retries an attempt that times out', async () => {
    script = [silent, answer(200)];
    const { result, attempts } = await deliver(sender({ timeoutMs: 300 }), `${base}/hook`);
    expect(result).toEqual({ delivered: true, attempts: 2 });
    expect(attempts[0]).toMatchObject({ status: null, error: 'Timed out after 300 ms.' });
    expect(attempts[0]!.durationMs).toBeGreaterThanOrEqual(250);
    expect(attempts[1]).toMatchObject({ status: 200, error: null });
  });

  it('stops when the signal aborts during the wait before a retry', async () => {
    script = [answer(503)];
    const controller = new AbortController();
    const started = Date.now();
    const attempts: DeliveryAttempt[] = [];
    const result = await sender({ baseDelayMs: 10_000, maxDelayMs: 10_000 }).deliver(
      `${base}/hook`,
      PAYLOAD,
      SECRET,
      (a) => {
        attempts.push(a);
        controller.abort();
      },
      controller.signal,
    );
    expect(result).toEqual({ delivered: false, attempts: 1 });
    expect(Date.now() - started).toBeLessThan(2000);
  });
});

describe('SSRF', () => {
  const refused = [
    'http://10.0.0.1/hook',
    'http://169.254.169.254/latest/meta-data/',
    'http://[::1]/hook',
    'http://[::ffff:127.0.0.1]/hook',
    'http://2130706433/hook',
    'http://0177.0.0.1/hook',
    'http://0x7f.1/hook',
    'http://0.0.0.0/hook',
    'http://[::]/hook',
    'http://100.64.0.1/hook',
    'http://192.168.1.1/hook',
    'http://172.16.0.1/hook',
    'http://[fd12:3456::1]/hook',
    'http://[fe80::1]/hook',
    'http://224.0.0.1/hook',
    'http://255.255.255.255/hook',
    'http://[64:ff9b::a00:1]/hook', // NAT64 of 10.0.0.1
    'http://[2002:a9fe:a9fe::1]/hook', // 6to4 of 169.254.169.254
  ];

  it.each(refused)('refuses %s at submission and at delivery, without DNS or a retry', async (url) => {
    const webhooks = sender({ allowHosts: [] });
    expect(webhooks.check(url)).toMatch(/^The URL is refused: .+ is an? .*address/);
    const { result, attempts } = await deliver(webhooks, url);
    expect(result).toEqual({ delivered: false, attempts: 1 });
    expect(attempts).toMatchObject([
      { attempt: 1, status: null, error: expect.stringMatching(/^Refused: /) },
    ]);
  });

  it('refuses 127.0.0.1 unless allowHosts lists it, and then only on the listed port', async () => {
    const { result, attempts } = await deliver(sender({ allowHosts: [] }), `${base}/hook`);
    expect(result).toEqual({ delivered: false, attempts: 1 });
    expect(attempts[0]?.error).toBe('Refused: 127.0.0.1 is a loopback address.');
    const otherPort = await deliver(sender({ allowHosts: [`127.0.0.1:${port + 1}`] }), `${base}/hook`);
    expect(otherPort.result.delivered).toBe(false);
    expect(received).toHaveLength(0);
    expect((await deliver(sender({ allowHosts: ['127.0.0.0/8'] }), `${base}/hook`)).result.delivered).toBe(
      true,
    );
  });

  const resolving =
    (answers: Record<string, string[]>) =>
    async (hostname: string): Promise<LookupAddress[]> =>
      (answers[hostname] ?? []).map((address) => ({ address, family: address.includes(':') ? 6 : 4 }));

  it('checks every address a host name resolves to, after resolution', async () => {
    const lookup = resolving({
      'internal.example': ['10.1.2.3'],
      'mixed.example': ['93.184.216.34', '192.168.1.10'],
      'mapped.example': ['::ffff:169.254.169.254'],
    });
    const webhooks = sender({ allowHosts: [], lookup });
    // Submission does no DNS: the name is only refused once it resolves.
    expect(webhooks.check('http://internal.example/hook')).toBeNull();
    const errors = [];
    for (const host of ['internal.example', 'mixed.example', 'mapped.example']) {
      const { result, attempts } = await deliver(webhooks, `http://${host}/hook`);
      expect(result).toEqual({ delivered: false, attempts: 1 });
      errors.push(attempts[0]?.error);
    }
    expect(errors).toEqual([
      'Refused: internal.example resolves to 10.1.2.3, a private address.',
      'Refused: mixed.example resolves to 192.168.1.10, a private address.',
      'Refused: mapped.example resolves to ::ffff:169.254.169.254, a link-local address (169.254.169.254) written as IPv6.',
    ]);
  });

  it('connects to the address it checked: a second, different DNS answer is never used', async () => {
    let lookups = 0;
    const rebinding = async (): Promise<LookupAddress[]> => [
      { address: lookups++ === 0 ? '127.0.0.1' : '10.9.9.9', family: 4 },
    ];
    // hooks.test is in no DNS: the delivery arrives only through the pinned, checked address.
    const { result } = await deliver(sender({ lookup: rebinding }), `http://hooks.test:${port}/hook`);
    expect(result).toEqual({ delivered: true, attempts: 1 });
    expect(lookups).toBe(1);
    expect(received[0]?.headers.host).toBe(`hooks.test:${port}`);
  });

  it('lets allowHosts name a host whose addresses are private', async () => {
    const lookup = resolving({ 'hooks.internal': ['127.0.0.1'] });
    const { result } = await deliver(
      sender({ allowHosts: ['hooks.internal'], lookup }),
      `http://hooks.internal:${port}/hook`,
    );
    expect(result).toEqual({ delivered: true, attempts: 1 });
  });

  it('follows a redirect on an allowed receiver, re-sending the same signed POST', async () => {
    script = [answer(307, { location: '/moved' }), answer(200)];
    const { result, attempts } = await deliver(sender(), `${base}/hook`);
    expect(result).toEqual({ delivered: true, attempts: 1 });
    expect(attempts).toMatchObject([{ status: 200, error: null }]);
    expect(received.map((r) => [r.path, r.body])).toEqual([
      ['/hook', JSON.stringify(PAYLOAD)],
      ['/moved', JSON.stringify(PAYLOAD)],
    ]);
    expect(received[1]?.headers['inkstone-signature']).toBe(received[0]?.headers['inkstone-signature']);
  });

  it('refuses a redirect to a refused address, records it and does not retry', async () => {
    script = [answer(302, { location: 'http://169.254.169.254/latest/meta-data/' })];
    const { result, attempts } = await deliver(sender(), `${base}/hook`);
    expect(result).toEqual({ delivered: false, attempts: 1 });
    expect(attempts).toMatchObject([
      {
        attempt: 1,
        status: 302,
        error:
          'Refused redirect to http://169.254.169.254/latest/meta-data/: 169.254.169.254 is a link-local address.',
      },
    ]);
    expect(received).toHaveLength(1);
  });

  it('re-checks a redirect to a host name after resolving it', async () => {
    script = [answer(301, { location: 'http://metadata.example/' })];
    const lookup = resolving({ 'metadata.example': ['fd00::1'] });
    const { result, attempts } = await deliver(sender({ lookup }), `${base}/hook`);
    expect(result).toEqual({ delivered: false, attempts: 1 });
    expect(attempts[0]?.error).toBe(
      'Refused redirect to http://metadata.example/: metadata.example resolves to fd00::1, a unique-local address.',
    );
  });

  it('follows at most 3 redirects', async () => {
    script = [answer(302, { location: '/again' })];
    const { result, attempts } = await deliver(sender(), `${base}/hook`);
    expect(result).toEqual({ delivered: false, attempts: 1 });
    expect(attempts).toMatchObject([{ status: 302, error: 'More than 3 redirects.' }]);
    expect(received).toHaveLength(4);
  });

  it('passes public addresses, whatever their spelling', () => {
    for (const address of [
      '93.184.216.34',
      '8.8.8.8',
      '2606:4700:4700::1111',
      '::ffff:8.8.8.8',
      '2002:808:808::1',
    ]) {
      expect(addressRefusal(address)).toBeNull();
    }
  });
});

describe('check() at submission', () => {
  const webhooks = () => sender({ allowHosts: [] });

  it('accepts an http or https URL with a host', () => {
    expect(webhooks().check('https://example.com/hooks/inkstone')).toBeNull();
    expect(webhooks().check('http://example.com:8080/hooks?x=1')).toBeNull();
  });

  it('names the problem in a sentence', () => {
    expect(webhooks().check('ftp://example.com/hook')).toBe(
      'The URL must start with http:// or https:// (not ftp:).',
    );
    expect(webhooks().check('javascript:alert(1)')).toMatch(/must start with http:\/\/ or https:\/\//);
    expect(webhooks().check('https://user:pass@example.com/hook')).toMatch(
      /must not contain a user name or password/,
    );
    expect(webhooks().check('https://user@example.com/hook')).toMatch(
      /must not contain a user name or password/,
    );
    expect(webhooks().check(`https://example.com/${'a'.repeat(2000)}`)).toBe(
      'The URL is longer than 2000 characters.',
    );
    expect(webhooks().check('example.com/hook')).toMatch(/not a valid absolute URL/);
    expect(webhooks().check('http://10.0.0.1/hook')).toBe(
      'The URL is refused: 10.0.0.1 is a private address.',
    );
  });
});

describe('configuration', () => {
  it('reads the Webhooks variables, with their defaults', () => {
    expect(loadConfig({}).webhooks).toMatchObject({ allowHosts: [], attempts: 5, timeoutMs: 10_000 });
    const config = loadConfig({
      WEBHOOK_ALLOW_HOSTS: 'hooks.internal, 10.0.0.0/8,[::1]:8080',
      WEBHOOK_ATTEMPTS: '3',
      WEBHOOK_TIMEOUT_MS: '2500',
    });
    expect(config.webhooks).toMatchObject({
      allowHosts: ['hooks.internal', '10.0.0.0/8', '[::1]:8080'],
      attempts: 3,
      timeoutMs: 2500,
    });
    expect(() => new WebhookSender(config.webhooks)).not.toThrow();
  });

  it('refuses an allow-list entry it cannot read, at boot', () => {
    expect(() => loadConfig({ WEBHOOK_ALLOW_HOSTS: 'hooks.internal,https://x/' })).toThrow(ConfigError);
    expect(() => loadConfig({ WEBHOOK_ALLOW_HOSTS: '10.0.0.0/33' })).toThrow(
      /WEBHOOK_ALLOW_HOSTS: "10.0.0.0\/33"/,
    );
  });
});
