import type { Post } from './schemas.js';

// Feeds, sitemap and robots.txt are pure functions of their input: the caller decides what
// is visible and when to cache; these only have to produce well-formed documents.

export interface AtomFeedInput {
  siteTitle: string;
  /** The public origin, optionally with a path prefix: https://example.com or https://example.com/blog. */
  siteUrl: string;
  /** This feed's own absolute URL. */
  feedUrl: string;
  posts: readonly Post[];
  subtitle?: string;
  /** The feed's <updated> when there are no posts; defaults to the Unix epoch so output stays deterministic. */
  emptyUpdated?: string;
}

export interface SitemapEntry {
  /** A site-relative path (/posts/a) or an absolute URL. */
  loc: string;
  lastmod?: string;
}

// XML 1.0 forbids most control characters even when escaped; a stray one (pasted from a
// terminal, or written by a model) would make the whole feed unparseable.
const INVALID_XML =
  // eslint-disable-next-line no-control-regex -- these are exactly the characters to remove
  /[\u0000-\u0008\u000B\u000C\u000E-\u001F\uFFFE\uFFFF]|[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/g;

const XML_ESCAPES: Record<string, string> = {
  '&': '&amp;',
  '<': '&lt;',
  '>': '&gt;',
  '"': '&quot;',
  "'": '&apos;',
};

export function escapeXml(text: string): string {
  return text.replace(INVALID_XML, '').replace(/[&<>"']/g, (ch) => XML_ESCAPES[ch] ?? ch);
}

const trimSlash = (url: string) => url.replace(/\/+$/, '');

/** An absolute URL for a site path; a path prefix in siteUrl (…/blog) is kept, unlike new URL(path, base). */
export function absoluteUrl(siteUrl: string, path: string): string {
  if (/^https?:\/\//i.test(path)) return path;
  return `${trimSlash(siteUrl)}${path.startsWith('/') ? '' : '/'}${path}`;
}

const latest = (a: string, b: string) => (a > b ? a : b);

function atomEntry(siteUrl: string, post: Post): string {
  const url = absoluteUrl(siteUrl, post.url);
  const published = post.publishedAt ?? post.createdAt;
  const categories = post.tags
    .map((tag) => `    <category term="${escapeXml(tag.slug)}" label="${escapeXml(tag.name)}"/>\n`)
    .join('');
  return [
    '  <entry>\n',
    `    <id>${escapeXml(url)}</id>\n`,
    `    <title type="text">${escapeXml(post.title)}</title>\n`,
    `    <link rel="alternate" type="text/html" href="${escapeXml(url)}"/>\n`,
    `    <published>${escapeXml(published)}</published>\n`,
    // A post scheduled and left unedited was last updated before it went out.
    `    <updated>${escapeXml(latest(post.updatedAt, published))}</updated>\n`,
    `    <author><name>${escapeXml(post.author.displayName || post.author.username)}</name></author>\n`,
    categories,
    `    <summary type="text">${escapeXml(post.excerpt)}</summary>\n`,
    `    <content type="html">${escapeXml(post.bodyHtml)}</content>\n`,
    '  </entry>\n',
  ].join('');
}

/** An Atom 1.0 feed (RFC 4287) of the given posts, which must already be the public ones. */
export function atomFeed(input: AtomFeedInput): string {
  const { siteTitle, siteUrl, feedUrl, posts, subtitle } = input;
  const updated = posts.reduce(
    (acc, post) => latest(acc, latest(post.updatedAt, post.publishedAt ?? post.createdAt)),
    input.emptyUpdated ?? '1970-01-01T00:00:00.000Z',
  );
  const home = `${trimSlash(siteUrl)}/`;
  return [
    '<?xml version="1.0" encoding="utf-8"?>\n',
    // xml:base resolves the site-relative links and images inside each entry's HTML.
    `<feed xmlns="http://www.w3.org/2005/Atom" xml:base="${escapeXml(home)}">\n`,
    `  <id>${escapeXml(home)}</id>\n`,
    `  <title type="text">${escapeXml(siteTitle)}</title>\n`,
    subtitle ? `  <subtitle type="text">${escapeXml(subtitle)}</subtitle>\n` : '',
    `  <updated>${escapeXml(updated)}</updated>\n`,
    `  <link rel="self" type="application/atom+xml" href="${escapeXml(feedUrl)}"/>\n`,
    `  <link rel="alternate" type="text/html" href="${escapeXml(home)}"/>\n`,
    '  <generator>Inkstone</generator>\n',
    ...posts.map((post) => atomEntry(siteUrl, post)),
    '</feed>\n',
  ].join('');
}

/** A sitemap (sitemaps.org 0.9); the home page is the caller's to include as an entry. */
export function sitemapXml(siteUrl: string, entries: readonly SitemapEntry[]): string {
  const urls = entries.map((entry) => {
    const lastmod = entry.lastmod ? `<lastmod>${escapeXml(entry.lastmod)}</lastmod>` : '';
    return `  <url><loc>${escapeXml(absoluteUrl(siteUrl, entry.loc))}</loc>${lastmod}</url>\n`;
  });
  return [
    '<?xml version="1.0" encoding="utf-8"?>\n',
    '<urlset xmlns="http://www.sitemaps.org/schemas/sitemap/0.9">\n',
    ...urls,
    '</urlset>\n',
  ].join('');
}

/** Crawlers may read everything public; the app's private areas and the API are not for indexing. */
export function robotsTxt(siteUrl: string): string {
  return [
    'User-agent: *',
    'Allow: /',
    'Disallow: /admin',
    'Disallow: /api/',
    'Disallow: /write',
    'Disallow: /setup',
    '',
    `Sitemap: ${absoluteUrl(siteUrl, '/sitemap.xml')}`,
    '',
  ].join('\n');
}
