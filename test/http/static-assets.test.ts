import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { contentHash, fingerprint, PUBLIC_DIR, readAssets } from '../../src/views/assets.js';
import { createTestApp, signedIn, type TestApp } from '../helpers/app.js';

// Static files under content-hashed names, cached for a year; the names pages link.

const A_YEAR = 'public, max-age=31536000, immutable';

describe('fingerprinting the files of public/', () => {
  const dir = mkdtempSync(join(tmpdir(), 'inkstone-assets-'));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('names a file by a hash of its content, which changes when the content does', () => {
    expect(fingerprint('style.css', 'abcdef0123')).toBe('style.abcdef0123.css');
    expect(fingerprint('app.min.js', 'abcdef0123')).toBe('app.min.abcdef0123.js');
    expect(contentHash('body { color: red }')).toMatch(/^[0-9a-f]{10}$/);
    expect(contentHash('body { color: red }')).toBe(contentHash(Buffer.from('body { color: red }')));

    writeFileSync(join(dir, 'app.css'), 'body { color: red }');
    writeFileSync(join(dir, 'app.js'), 'console.log(1)');
    const before = readAssets(dir);
    expect(before.byName.get('app.css')!.url).toMatch(/^\/static\/app\.[0-9a-f]{10}\.css$/);
    writeFileSync(join(dir, 'app.css'), 'body { color: blue }');
    const after = readAssets(dir);
    expect(after.byName.get('app.css')!.url).not.toBe(before.byName.get('app.css')!.url);
    // Another file's change leaves this one's name alone.
    expect(after.byName.get('app.js')!.url).toBe(before.byName.get('app.js')!.url);
    const css = after.byName.get('app.css')!;
    expect(after.byFingerprint.get(css.url.slice('/static/'.length))).toBe(css);
    expect(css.body.toString()).toBe('body { color: blue }');
    expect(css.type).toBe('text/css; charset=utf-8');
  });

  it('leaves out folders, dotfiles and names without an extension', () => {
    const other = mkdtempSync(join(dir, 'other-'));
    mkdirSync(join(other, 'fonts'));
    writeFileSync(join(other, '.hidden.css'), 'x');
    writeFileSync(join(other, 'LICENSE'), 'x');
    writeFileSync(join(other, 'ok.svg'), '<svg/>');
    expect([...readAssets(other).byName.keys()]).toEqual(['ok.svg']);
  });
});

describe('serving fingerprinted assets', () => {
  let t: TestApp;
  beforeAll(async () => {
    t = await createTestApp('sqlite');
  });
  afterAll(async () => {
    await t?.close();
  });

  const linked = (body: string, pattern: RegExp) => {
    const found = pattern.exec(body)?.[1];
    if (!found) throw new Error(`no link matching ${pattern}`);
    return found;
  };

  it("serves a page's stylesheet and icon under hashed names, cached for a year, with 304 on its ETag", async () => {
    const page = await t.app.inject('/');
    expect(page.statusCode).toBe(200);
    const css = linked(page.body, /<link rel="stylesheet" href="([^"]+)"/);
    const icon = linked(page.body, /<link rel="icon" href="([^"]+)"/);
    const hash = contentHash(readFileSync(join(PUBLIC_DIR, 'style.css')));
    expect(css).toBe(`/static/style.${hash}.css`);
    expect(icon).toMatch(/^\/static\/favicon\.[0-9a-f]{10}\.svg$/);

    const sheet = await t.app.inject(css);
    expect(sheet.statusCode).toBe(200);
    expect(sheet.headers['cache-control']).toBe(A_YEAR);
    expect(sheet.headers['content-type']).toBe('text/css; charset=utf-8');
    expect(sheet.body).toBe(readFileSync(join(PUBLIC_DIR, 'style.css'), 'utf8'));
    expect(sheet.headers['set-cookie']).toBeUndefined();
    const again = await t.app.inject({ url: css, headers: { 'if-none-match': String(sheet.headers.etag) } });
    expect(again.statusCode).toBe(304);
    expect(again.body).toBe('');
    expect((await t.app.inject({ method: 'HEAD', url: css })).statusCode).toBe(200);

    const favicon = await t.app.inject(icon);
    expect(favicon.statusCode).toBe(200);
    expect(favicon.headers['cache-control']).toBe(A_YEAR);
    expect(favicon.headers['content-type']).toBe('image/svg+xml');
  });

  it("serves the editor's scripts under hashed names", async () => {
    const { client } = await signedIn(t.app, 'author');
    const editor = await client.get('/write');
    expect(editor.statusCode).toBe(200);
    const scripts = [...editor.body.matchAll(/<script src="([^"]+)"/g)].map((match) => match[1]!);
    expect(scripts).toHaveLength(2);
    for (const src of scripts) {
      expect(src).toMatch(/^\/static\/editor(-ai)?\.[0-9a-f]{10}\.js$/);
      const script = await t.app.inject(src);
      expect(script.statusCode, src).toBe(200);
      expect(script.headers['cache-control'], src).toBe(A_YEAR);
      expect(script.headers['content-type'], src).toBe('text/javascript; charset=utf-8');
    }
  });

  it('still serves plain names with a short cache, another hash without caching, and 404 for the unknown', async () => {
    const plain = await t.app.inject('/static/style.css');
    expect(plain.statusCode).toBe(200);
    expect(plain.headers['cache-control']).not.toContain('immutable');
    // A name from another deploy (rolling restart): this version's file, kept by no cache.
    const other = await t.app.inject('/static/style.0000000000.css');
    expect(other.statusCode).toBe(200);
    expect(other.headers['cache-control']).toBe('no-cache');
    expect(other.body).toBe(plain.body);
    expect((await t.app.inject('/static/nothing.0000000000.css')).statusCode).toBe(404);
    expect((await t.app.inject('/static/nothing.css')).statusCode).toBe(404);
  });
});
