import { type LookupAddress } from 'node:dns';
import { type IncomingHttpHeaders, request as httpRequest } from 'node:http';
import { request as httpsRequest } from 'node:https';
import { BlockList, isIP, type LookupFunction } from 'node:net';

/**
 * Which addresses a webhook may reach. A callback URL is chosen by a user, so without this
 * check Inkstone would POST wherever they point it: its own admin port, the database, the
 * cloud metadata service at 169.254.169.254. Addresses are checked after DNS resolution
 * (a public name can point anywhere) and the connection is then pinned to the checked
 * addresses (postPinned, below), so a second, different DNS answer is never used.
 */

// IANA's special-purpose registries, grouped by the words a refusal uses. The first group
// that matches names the reason, so the unspecified and loopback addresses come before
// `::/96`, which holds both.
const REFUSED: [reason: string, cidrs: string[]][] = [
  ['an unspecified address', ['0.0.0.0/8', '::/128']],
  ['a loopback address', ['127.0.0.0/8', '::1/128']],
  ['a private address', ['10.0.0.0/8', '172.16.0.0/12', '192.168.0.0/16']],
  ['a shared (CGNAT) address', ['100.64.0.0/10']],
  ['a link-local address', ['169.254.0.0/16', 'fe80::/10']],
  ['a unique-local address', ['fc00::/7', 'fec0::/10']],
  ['a multicast address', ['224.0.0.0/4', 'ff00::/8']],
  [
    'a reserved address',
    [
      '192.0.0.0/24',
      '192.0.2.0/24',
      '192.88.99.0/24',
      '198.18.0.0/15',
      '198.51.100.0/24',
      '203.0.113.0/24',
      '240.0.0.0/4', // and 255.255.255.255
      '::/96', // IPv4-compatible, deprecated: nothing legitimate is written this way
      '100::/64',
      '2001::/32', // Teredo: the IPv4 inside is obfuscated, so the whole prefix is refused
      '2001:db8::/32',
      '64:ff9b:1::/48', // local-use NAT64, whose IPv4 sits at a prefix-dependent offset
    ],
  ],
];

function subnets(cidrs: string[]): BlockList {
  const list = new BlockList();
  for (const cidr of cidrs) {
    const [net = '', prefix = ''] = cidr.split('/');
    list.addSubnet(net, Number(prefix), isIP(net) === 6 ? 'ipv6' : 'ipv4');
  }
  return list;
}

const REFUSED_LISTS = REFUSED.map(([reason, cidrs]) => [reason, subnets(cidrs)] as const);

const bare = (host: string): string => host.replace(/^\[(.*)\]$/, '$1');
const family = (ip: string): 'ipv4' | 'ipv6' => (isIP(ip) === 6 ? 'ipv6' : 'ipv4');

/** The eight 16-bit groups of a valid IPv6 address (isIP has checked it). */
function ipv6Groups(ip: string): number[] {
  let text = ip;
  const quad = /(\d+)\.(\d+)\.(\d+)\.(\d+)$/.exec(text);
  if (quad) {
    const [a = 0, b = 0, c = 0, d = 0] = quad.slice(1).map(Number);
    text = `${text.slice(0, quad.index)}${((a << 8) | b).toString(16)}:${((c << 8) | d).toString(16)}`;
  }
  const groups = (part: string | undefined) => (part ? part.split(':').map((g) => parseInt(g, 16)) : []);
  const [head, tail] = text.split('::');
  if (tail === undefined) return groups(head);
  const left = groups(head);
  const right = groups(tail);
  return [...left, ...Array<number>(8 - left.length - right.length).fill(0), ...right];
}

/**
 * The IPv4 address inside an IPv6 one that routes to it: mapped (`::ffff:127.0.0.1`),
 * NAT64 (`64:ff9b::7f00:1`) or 6to4 (`2002:7f00:1::`). Each would reach the IPv4 host.
 */
function embeddedIPv4(ip: string): string | undefined {
  const g = ipv6Groups(ip);
  const quad = (hi = 0, lo = 0) => `${hi >> 8}.${hi & 255}.${lo >> 8}.${lo & 255}`;
  const zeros = (from: number, to: number) => g.slice(from, to).every((x) => x === 0);
  if (zeros(0, 5) && g[5] === 0xffff) return quad(g[6], g[7]);
  if (g[0] === 0x64 && g[1] === 0xff9b && zeros(2, 6)) return quad(g[6], g[7]);
  if (g[0] === 0x2002) return quad(g[1], g[2]);
  return undefined;
}

/** Why a webhook may not go to this IP address (`a loopback address`), or null if it may. */
export function addressRefusal(address: string): string | null {
  const ip = bare(address).replace(/%.*$/, ''); // a zone id (fe80::1%eth0) is not part of the address
  if (isIP(ip) === 0) return 'not an IP address';
  const inner = isIP(ip) === 6 ? embeddedIPv4(ip) : undefined;
  if (inner) {
    const reason = addressRefusal(inner);
    if (reason) return `${reason} (${inner}) written as IPv6`;
  }
  for (const [reason, list] of REFUSED_LISTS) if (list.check(ip, family(ip))) return reason;
  return null;
}

export interface AllowRule {
  /** A lower-case host name with no trailing dot, or undefined for an address rule. */
  host?: string;
  addresses?: BlockList;
  /** Undefined: any port. */
  port?: number;
}

const ENTRY_HELP =
  'a host, host:port, IP address, [IPv6]:port or CIDR range (hooks.internal, 10.0.0.5:8080, 10.0.0.0/8)';

/** Host names lower-cased and punycoded, IP literals in canonical form (`0177.0.0.1` → `127.0.0.1`). */
function canonicalHost(host: string): string {
  const hostname = new URL(`http://${isIP(host) === 6 ? `[${host}]` : host}/`).hostname;
  return bare(hostname).replace(/\.$/, '');
}

function parseEntry(entry: string): AllowRule {
  const slash = entry.lastIndexOf('/');
  if (slash >= 0) {
    const net = bare(entry.slice(0, slash));
    const prefix = entry.slice(slash + 1);
    const kind = isIP(net);
    if (kind === 0 || !/^\d{1,3}$/.test(prefix) || Number(prefix) > (kind === 4 ? 32 : 128)) {
      throw new Error(`"${entry}" is not ${ENTRY_HELP}`);
    }
    const addresses = new BlockList();
    addresses.addSubnet(net, Number(prefix), family(net));
    return { addresses };
  }
  const parts =
    isIP(entry) === 6 ? [entry, entry] : /^\[([^\]]+)\](?::(\d+))?$|^([^:[\]]+)(?::(\d+))?$/.exec(entry);
  if (!parts) throw new Error(`"${entry}" is not ${ENTRY_HELP}`);
  const rawHost = parts[1] ?? parts[3] ?? '';
  const rawPort = parts[2] ?? parts[4];
  let host: string;
  try {
    host = canonicalHost(rawHost);
  } catch {
    throw new Error(`"${entry}" is not ${ENTRY_HELP}`);
  }
  const port = rawPort === undefined ? undefined : Number(rawPort);
  if (port !== undefined && (port < 1 || port > 65535)) throw new Error(`"${entry}" has a port out of range`);
  if (isIP(host) === 0) return { host, port };
  const addresses = new BlockList();
  addresses.addAddress(host, family(host));
  return { addresses, port };
}

/**
 * Reads WEBHOOK_ALLOW_HOSTS entries: destinations that may be private. A host entry trusts
 * whatever that name resolves to; an IP or CIDR entry allows those addresses under any name.
 */
export function parseAllowHosts(entries: readonly string[]): AllowRule[] {
  return entries
    .map((entry) => entry.trim())
    .filter(Boolean)
    .map(parseEntry);
}

export type Lookup = (hostname: string) => Promise<LookupAddress[]>;

export type Destination = { addresses: LookupAddress[] } | { refused: string };

export class DestinationGuard {
  private readonly rules: AllowRule[];

  constructor(allowHosts: readonly string[]) {
    this.rules = parseAllowHosts(allowHosts);
  }

  /** For an IP literal, the refusal that needs no DNS (check() at submission); else null. */
  literalRefusal(url: URL): string | null {
    const host = bare(url.hostname);
    return isIP(host) === 0 ? null : this.refusal(url, [host]);
  }

  /**
   * Resolves the URL's host and checks every address; an IP literal is its own answer.
   * Rejects when DNS fails (the delivery retries), resolves to a refusal when any address is refused.
   */
  async resolve(url: URL, lookup: Lookup): Promise<Destination> {
    const host = bare(url.hostname);
    const addresses: LookupAddress[] =
      isIP(host) === 0 ? await lookup(host) : [{ address: host, family: isIP(host) }];
    if (addresses.length === 0) throw new Error(`${host} resolved to no address`);
    const refusal = this.refusal(
      url,
      addresses.map((a) => a.address),
    );
    return refusal ? { refused: refusal } : { addresses };
  }

  private refusal(url: URL, addresses: string[]): string | null {
    const host = bare(url.hostname).replace(/\.$/, '');
    const port = Number(url.port || (url.protocol === 'https:' ? 443 : 80));
    const portMatches = (rule: AllowRule) => rule.port === undefined || rule.port === port;
    if (this.rules.some((rule) => rule.host === host && portMatches(rule))) return null;
    for (const address of addresses) {
      const reason = addressRefusal(address);
      if (!reason) continue;
      const ip = bare(address).replace(/%.*$/, '');
      const allowed =
        isIP(ip) !== 0 &&
        this.rules.some((rule) => rule.addresses?.check(ip, family(ip)) === true && portMatches(rule));
      if (allowed) continue;
      return host === address ? `${address} is ${reason}` : `${host} resolves to ${address}, ${reason}`;
    }
    return null;
  }
}

export interface Answer {
  status: number;
  headers: IncomingHttpHeaders;
}

/**
 * The POST itself, over a fresh connection to an address the guard accepted: `lookup` hands
 * back those addresses instead of asking DNS again, so a name that resolves differently a
 * second later (DNS rebinding) cannot redirect the connection. The URL keeps its host name,
 * so the Host header, TLS SNI and certificate check are the receiver's. node:http rather
 * than fetch: fetch takes a connect lookup only through an undici Agent, and the undici that
 * Node bundles cannot be imported without adding the package.
 */
export function postPinned(
  url: URL,
  addresses: LookupAddress[],
  headers: Record<string, string>,
  body: string,
  signal: AbortSignal,
): Promise<Answer> {
  // Node calls lookup with `all: true` when it races IPv4 and IPv6 (autoSelectFamily).
  const lookup: LookupFunction = (_hostname, options, callback) => {
    if (options.all) return callback(null, addresses);
    const first = addresses[0]!;
    callback(null, first.address, first.family);
  };
  const send = url.protocol === 'https:' ? httpsRequest : httpRequest;
  return new Promise((resolve, reject) => {
    const request = send(url, { method: 'POST', headers, lookup, signal, agent: false }, (response) => {
      // Only the status and headers matter; a large or endless body must not hold the attempt.
      response.destroy();
      resolve({ status: response.statusCode ?? 0, headers: response.headers });
    });
    request.on('error', reject);
    request.end(body);
  });
}
