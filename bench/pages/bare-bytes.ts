// What the bench's bare servers answer: the bytes of Inkstone's own page-cache hit on the home
// page, status line to body. The harness reads a hit off a real Inkstone (hitBytes), writes it
// to a file, and each bare server replays it (bareResponse) as a fixed header list: the limit
// a server sending exactly those bytes reaches, doing nothing else.
import { readFileSync, writeFileSync } from 'node:fs';
import { request } from 'node:http';

export interface PageBytes {
  /** Header names and values in the order sent, flat (`[name, value, name, value…]`). */
  headers: string[];
  body: Buffer;
}

/**
 * Headers every Node server writes itself (the bare one too), so not part of what a page
 * chooses to send: left out of the replay and of the comparison.
 */
const NODE_OWN = new Set(['date', 'connection', 'keep-alive', 'transfer-encoding']);

/** One GET with node:http: the headers exactly as sent (rawHeaders keeps order and case). */
export function rawGet(url: string): Promise<PageBytes & { status: number }> {
  return new Promise((resolve, reject) => {
    request(url, (response) => {
      const chunks: Buffer[] = [];
      response.on('data', (chunk: Buffer) => chunks.push(chunk));
      response.on('error', reject);
      response.on('end', () => {
        const headers: string[] = [];
        const raw = response.rawHeaders;
        for (let i = 0; i < raw.length; i += 2) {
          if (!NODE_OWN.has(raw[i]!.toLowerCase())) headers.push(raw[i]!, raw[i + 1]!);
        }
        resolve({ status: response.statusCode ?? 0, headers, body: Buffer.concat(chunks) });
      });
    })
      .on('error', reject)
      .end();
  });
}

/** The value of header `name` (lower case) in a flat name, value list. */
function headerOf(headers: string[], name: string): string | undefined {
  for (let i = 0; i < headers.length; i += 2) if (headers[i]!.toLowerCase() === name) return headers[i + 1];
  return undefined;
}

/** A page-cache hit on `url` (the first GET may fill the cache), as wrk would get it. */
export async function hitBytes(url: string): Promise<PageBytes> {
  for (let attempt = 0; attempt < 5; attempt++) {
    const got = await rawGet(url);
    if (got.status !== 200) throw new Error(`GET ${url} answered ${got.status}`);
    if (headerOf(got.headers, 'x-page-cache') === 'hit') return { headers: got.headers, body: got.body };
  }
  throw new Error(`GET ${url} was never a page-cache hit in 5 tries`);
}

/** Whether two responses carry the same bytes (Node's own headers aside). */
export const sameBytes = (a: PageBytes, b: PageBytes) =>
  a.body.equals(b.body) &&
  a.headers.length === b.headers.length &&
  a.headers.every((x, i) => x === b.headers[i]);

export function writePageBytes(file: string, page: PageBytes): void {
  writeFileSync(file, JSON.stringify({ headers: page.headers, body: page.body.toString('base64') }));
}

/**
 * In a bare child: what to answer, from BARE_PAGE_FILE. With BARE_LEAN=1 only the content
 * type and length, the bench's limit in its samples up to 2026-12-06g (a control: what the
 * page's other headers cost a bare server).
 */
export function bareResponse(): PageBytes {
  const file = process.env.BARE_PAGE_FILE;
  if (!file) throw new Error('BARE_PAGE_FILE is not set');
  const saved = JSON.parse(readFileSync(file, 'utf8')) as { headers: string[]; body: string };
  const body = Buffer.from(saved.body, 'base64');
  if (process.env.BARE_LEAN !== '1') return { headers: saved.headers, body };
  return {
    headers: [
      'content-type',
      headerOf(saved.headers, 'content-type') ?? 'text/html; charset=utf-8',
      'content-length',
      String(body.length),
    ],
    body,
  };
}
