import { createHash } from 'node:crypto';
import { readdirSync, readFileSync } from 'node:fs';
import { extname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

// The files of public/, fingerprinted: a page links `/static/style.3f9a1c2b7d.css`, whose
// content never changes under that name, so browsers and CDNs may keep it for a year. The
// hashes are made once per process, from the bytes it then serves (buildApp serves them from
// memory), so a name never stands for other content; an edit in public/ needs a restart.

export interface Asset {
  /** The file's name in public/, e.g. `style.css`. */
  name: string;
  /** What pages link, e.g. `/static/style.3f9a1c2b7d.css`. */
  url: string;
  hash: string;
  body: Buffer;
  type: string;
}

export interface AssetManifest {
  byName: Map<string, Asset>;
  /** By the file name in the fingerprinted URL, e.g. `style.3f9a1c2b7d.css`. */
  byFingerprint: Map<string, Asset>;
}

export const PUBLIC_DIR = fileURLToPath(new URL('../../public', import.meta.url));

/** 40 bits of SHA-256: enough that two versions of one file never share a name. */
export const HASH_LENGTH = 10;

/** A fingerprinted URL's last segment, `<stem>.<hash>.<extension>`, e.g. `app.min.3f9a1c2b7d.js`. */
export const FINGERPRINTED = new RegExp(`^([\\w.-]+)\\.([0-9a-f]{${HASH_LENGTH}})(\\.\\w+)$`);

const TYPES: Record<string, string> = {
  '.css': 'text/css; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.mjs': 'text/javascript; charset=utf-8',
  '.svg': 'image/svg+xml',
  '.png': 'image/png',
  '.ico': 'image/x-icon',
  '.webp': 'image/webp',
  '.woff2': 'font/woff2',
  '.json': 'application/json',
  '.txt': 'text/plain; charset=utf-8',
};

export function contentHash(body: Buffer | string): string {
  return createHash('sha256').update(body).digest('hex').slice(0, HASH_LENGTH);
}

/** `style.css` with content hashing to `3f9a1c2b7d` → `style.3f9a1c2b7d.css`. */
export function fingerprint(name: string, hash: string): string {
  const extension = extname(name);
  return `${name.slice(0, name.length - extension.length)}.${hash}${extension}`;
}

/** The files directly in `dir` (not its folders, dotfiles or names without an extension), hashed. */
export function readAssets(dir: string): AssetManifest {
  const manifest: AssetManifest = { byName: new Map(), byFingerprint: new Map() };
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    // Only names a fingerprinted URL can carry (see FINGERPRINTED): others keep their plain URL.
    if (!entry.isFile() || !/^\w[\w.-]*\.\w+$/.test(entry.name)) continue;
    const body = readFileSync(join(dir, entry.name));
    const hash = contentHash(body);
    const hashed = fingerprint(entry.name, hash);
    const type = TYPES[extname(entry.name).toLowerCase()] ?? 'application/octet-stream';
    const asset = { name: entry.name, url: `/static/${hashed}`, hash, body, type };
    manifest.byName.set(entry.name, asset);
    manifest.byFingerprint.set(hashed, asset);
  }
  return manifest;
}

let current: AssetManifest | undefined;

/** public/'s manifest, made on first use: buildApp asks for it at start-up. */
export function assets(): AssetManifest {
  return (current ??= readAssets(PUBLIC_DIR));
}

/** The URL a page links for a file of public/; the plain `/static/` name if there is none such. */
export function assetUrl(name: string): string {
  return assets().byName.get(name)?.url ?? `/static/${name}`;
}
