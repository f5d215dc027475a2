import { describe, expect, it } from 'vitest';
import { atomFeed, robotsTxt, sitemapXml } from '../../../src/modules/posts/feeds.js';
import type { Post } from '../../../src/modules/posts/schemas.js';

const ENTITY = /&(?:amp|lt|gt|quot|apos|#\d+|#x[0-9a-fA-F]+);/g;

/**
 * A small well-formedness check (no XML parser is a dependency): one root, properly
 * nested tags, quoted attributes, and no bare '<' or '&' in text or attribute values.
 */
function assertWellFormed(xml: string): void {
  const body = xml.replace(/^<\?xml version="1\.0" encoding="utf-8"\?>\n/, '');
  expect(body, 'XML declaration').not.toBe(xml);
  const stack: string[] = [];
  let roots = 0;
  for (const [token] of body.matchAll(/<[^>]*>|[^<]+/g)) {
    if (!token.startsWith('<')) {
      expect(token.replace(ENTITY, ''), 'text').not.toMatch(/[&<]/);
      if (stack.length === 0) expect(token.trim(), 'text outside the root').toBe('');
      continue;
    }
    const close = /^<\/([\w:.-]+)>$/.exec(token);
    if (close) {
      expect(stack.pop(), `closing ${token}`).toBe(close[1]);
      continue;
    }
    const open = /^<([\w:.-]+)((?:\s+[\w:.-]+="[^"]*")*)\s*(\/?)>$/.exec(token);
    expect(open, `malformed tag ${token}`).not.toBeNull();
    for (const [, value] of (open?.[2] ?? '').matchAll(/="([^"]*)"/g)) {
      expect(value?.replace(ENTITY, ''), `attribute in ${token}`).not.toMatch(/[&<]/);
    }
    if (stack.length === 0) roots++;
    if (open?.[3] !== '/') stack.push(open?.[1] ?? '');
  }
  expect(stack, 'unclosed tags').toEqual([]);
  expect(roots).toBe(1);
}

const unescapeXml = (text: string) =>
  text.replace(
    /&(lt|gt|quot|apos|amp);/g,
    (_m, name: string) => ({ lt: '<', gt: '>', quot: '"', apos: "'", amp: '&' })[name] ?? '',
  );

function post(overrides: Partial<Post> = {}): Post {
  return {
    id: 1,
    title: 'Tom & Jerry <3 "quotes"',
    slug: 'tom-jerry',
    body: 'body',
    bodyHtml: '<p>Hello &amp; <a href="/posts/x?a=1&amp;b=2">link</a></p>',
    excerpt: 'Hello & <goodbye>',
    status: 'published',
    publishedAt: '2030-01-02T00:00:00.000Z',
    version: 1,
    createdAt: '2030-01-01T00:00:00.000Z',
    updatedAt: '2030-01-03T00:00:00.000Z',
    url: '/posts/tom-jerry',
    author: { id: 1, username: 'alice', displayName: 'Alice & Co' },
    tags: [{ name: 'C & C++', slug: 'c-c' }],
    ...overrides,
  };
}

describe('atomFeed', () => {
  const xml = atomFeed({
    siteTitle: 'Ink & <Stone>',
    siteUrl: 'https://blog.example.com/',
    feedUrl: 'https://blog.example.com/feed.xml',
    subtitle: 'Words & more',
    posts: [
      post(),
      post({ id: 2, slug: '你好', url: '/posts/%E4%BD%A0%E5%A5%BD', title: '你好\u0007世界', tags: [] }),
    ],
  });

  it('is well-formed XML with escaped titles', () => {
    assertWellFormed(xml);
    expect(xml).toContain('<title type="text">Ink &amp; &lt;Stone&gt;</title>');
    expect(xml).toContain('<title type="text">Tom &amp; Jerry &lt;3 &quot;quotes&quot;</title>');
    expect(xml).toContain('<name>Alice &amp; Co</name>');
  });

  it('drops control characters XML cannot hold', () => {
    expect(xml).toContain('<title type="text">你好世界</title>');
  });

  it('has Atom ids, links, dates, categories, summary and HTML content', () => {
    expect(xml).toContain('<feed xmlns="http://www.w3.org/2005/Atom" xml:base="https://blog.example.com/">');
    expect(xml).toContain(
      '<link rel="self" type="application/atom+xml" href="https://blog.example.com/feed.xml"/>',
    );
    expect(xml).toContain('<id>https://blog.example.com/posts/tom-jerry</id>');
    expect(xml).toContain('<id>https://blog.example.com/posts/%E4%BD%A0%E5%A5%BD</id>');
    expect(xml).toContain('<published>2030-01-02T00:00:00.000Z</published>');
    expect(xml).toContain('<updated>2030-01-03T00:00:00.000Z</updated>');
    expect(xml).toContain('<category term="c-c" label="C &amp; C++"/>');
    expect(xml).toContain('<summary type="text">Hello &amp; &lt;goodbye&gt;</summary>');
    const content = /<content type="html">([^<]*)<\/content>/.exec(xml)?.[1] ?? '';
    expect(unescapeXml(content)).toBe(post().bodyHtml);
    expect(xml.match(/<entry>/g)).toHaveLength(2);
  });

  it('uses the newest post time as the feed time, and the epoch when empty', () => {
    expect(xml).toMatch(/<\/subtitle>\n {2}<updated>2030-01-03T00:00:00.000Z<\/updated>/);
    const empty = atomFeed({
      siteTitle: 'S',
      siteUrl: 'https://s.test',
      feedUrl: 'https://s.test/feed.xml',
      posts: [],
    });
    assertWellFormed(empty);
    expect(empty).toContain('<updated>1970-01-01T00:00:00.000Z</updated>');
  });
});

describe('sitemapXml and robotsTxt', () => {
  it('makes a well-formed sitemap with absolute, escaped URLs, keeping a path prefix', () => {
    const xml = sitemapXml('https://example.com/blog/', [
      { loc: '/' },
      { loc: '/posts/a?x=1&y=2', lastmod: '2030-01-01T00:00:00.000Z' },
    ]);
    assertWellFormed(xml);
    expect(xml).toContain('<loc>https://example.com/blog/</loc>');
    expect(xml).toContain(
      '<url><loc>https://example.com/blog/posts/a?x=1&amp;y=2</loc><lastmod>2030-01-01T00:00:00.000Z</lastmod></url>',
    );
  });

  it('allows all but the private areas and points at the sitemap', () => {
    const robots = robotsTxt('https://example.com');
    expect(robots.split('\n')).toEqual([
      'User-agent: *',
      'Allow: /',
      'Disallow: /admin',
      'Disallow: /api/',
      'Disallow: /write',
      'Disallow: /setup',
      '',
      'Sitemap: https://example.com/sitemap.xml',
      '',
    ]);
  });
});

describe('assertWellFormed (the checker itself)', () => {
  it('rejects bare ampersands and bad nesting', () => {
    expect(() => assertWellFormed('<?xml version="1.0" encoding="utf-8"?>\n<a>x & y</a>')).toThrow();
    expect(() => assertWellFormed('<?xml version="1.0" encoding="utf-8"?>\n<a><b></a></b>')).toThrow();
  });
});
