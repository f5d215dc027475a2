import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { type Asset, type AssetManifest, contentHash, FINGERPRINTED, fingerprint } from '../views/assets.js';

const A_YEAR = 'public, max-age=31536000, immutable';

const matches = (request: FastifyRequest, etag: string) =>
  request.headers['if-none-match']?.split(',').some((tag) => tag.trim().replace(/^W\//, '') === etag) ??
  false;

// Files of runtime dependencies that pages link like public/'s own, read from node_modules so
// their version is package.json's: uPlot draws /admin/metrics' charts (no CDN).
const VENDORED: Record<string, string> = {
  'uPlot.iife.min.js': 'uplot/dist/uPlot.iife.min.js',
  'uPlot.min.css': 'uplot/dist/uPlot.min.css',
};

/** Adds the VENDORED files to `manifest` under their plain names (assetUrl then finds them). */
export function addVendoredAssets(manifest: AssetManifest): void {
  const require = createRequire(import.meta.url);
  for (const [name, module] of Object.entries(VENDORED)) {
    if (manifest.byName.has(name)) continue;
    const body = readFileSync(require.resolve(module));
    const hash = contentHash(body);
    const hashed = fingerprint(name, hash);
    const type = name.endsWith('.css') ? 'text/css; charset=utf-8' : 'text/javascript; charset=utf-8';
    const asset = { name, url: `/static/${hashed}`, hash, body, type };
    manifest.byName.set(name, asset);
    manifest.byFingerprint.set(hashed, asset);
  }
}

/**
 * The fingerprinted files pages link (src/views/assets.ts), from the bytes hashed at start-up:
 * cached for a year. Plain names stay with @fastify/static. A name with another hash (a page
 * from an instance of another deploy, during a rolling one) gets this version's file, which
 * no cache may keep under that name; a name unknown altogether is a 404.
 */
export function registerFingerprintedAssets(app: FastifyInstance, manifest: AssetManifest) {
  addVendoredAssets(manifest);
  const send = (request: FastifyRequest, reply: FastifyReply, asset: Asset, cacheControl: string) => {
    const etag = `"${asset.hash}"`;
    reply.header('cache-control', cacheControl).header('etag', etag);
    if (matches(request, etag)) return reply.code(304).send();
    return reply.type(asset.type).send(asset.body);
  };

  app.get(
    `/static/:file(${FINGERPRINTED.source})`,
    { schema: { hide: true } },
    async (request: FastifyRequest<{ Params: { file: string } }>, reply) => {
      const { file } = request.params;
      const exact = manifest.byFingerprint.get(file);
      if (exact) return send(request, reply, exact, A_YEAR);
      const [, stem, , extension] = FINGERPRINTED.exec(file) ?? [];
      const current = stem && extension ? manifest.byName.get(stem + extension) : undefined;
      if (current) return send(request, reply, current, 'no-cache');
      return reply.callNotFound();
    },
  );
}
