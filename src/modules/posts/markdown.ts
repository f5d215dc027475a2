import hljs from 'highlight.js/lib/common';
import { Marked, type Tokens } from 'marked';
import sanitizeHtml from 'sanitize-html';
import { escapeHtml } from '../../views/html.js';

// Everything Markdown (and the text a model writes) can produce is untrusted: it is
// rendered by marked and then passed through an allowlist sanitiser, so a bug or gap in
// either stage alone does not become stored XSS.

const SAFE_LANG = /^[\w+#.-]{1,40}$/;

function renderCode({ text, lang }: Tokens.Code): string {
  const name = (lang ?? '').trim().split(/\s+/)[0]?.toLowerCase() ?? '';
  const language = name ? hljs.getLanguage(name) : undefined;
  if (language) {
    const { value } = hljs.highlight(text, { language: name, ignoreIllegals: true });
    const cls = SAFE_LANG.test(name) ? ` language-${name}` : '';
    return `<pre><code class="hljs${cls}">${value}</code></pre>\n`;
  }
  const cls = name && SAFE_LANG.test(name) ? ` class="language-${name}"` : '';
  return `<pre><code${cls}>${escapeHtml(text)}</code></pre>\n`;
}

const postMarked = new Marked({ gfm: true, renderer: { code: renderCode } });

const isAbsolute = (href: string | undefined) => !!href && /^(?:[a-z][a-z0-9+.-]*:)?\/\//i.test(href.trim());

const words = (list: string) => list.split(' ');

// Script-like elements lose their content too; by default only their tags would go.
const NON_TEXT = words('script style textarea option noscript iframe object embed template xmp');

const BLOCK_TAGS = words(
  'h1 h2 h3 h4 h5 h6 p br hr blockquote pre code div ul ol li dl dt dd figure figcaption details summary',
);
const TABLE_TAGS = words('table thead tbody tfoot tr th td caption');
const INLINE_TAGS = words('a img span em strong b i u del s ins sub sup kbd mark small abbr q cite input');

const POST_SANITIZE: sanitizeHtml.IOptions = {
  allowedTags: [...BLOCK_TAGS, ...TABLE_TAGS, ...INLINE_TAGS],
  allowedAttributes: {
    a: ['href', 'title', 'rel'],
    img: ['src', 'alt', 'title', 'width', 'height'],
    th: ['align', 'colspan', 'rowspan'],
    td: ['align', 'colspan', 'rowspan'],
    ol: ['start'],
    abbr: ['title'],
    input: ['type', 'checked', 'disabled'],
  },
  allowedClasses: {
    code: ['hljs', 'language-*'],
    // highlight.js 11 marks sub-scopes with trailing underscores ("hljs-title function_").
    span: ['hljs-*', /^[a-z]+_+$/],
  },
  allowedSchemes: ['http', 'https', 'mailto'],
  allowedSchemesByTag: { img: ['http', 'https'] },
  allowProtocolRelative: true,
  nonTextTags: NON_TEXT,
  transformTags: {
    a: (tagName, attribs) => {
      const { rel: _ignored, ...rest } = attribs;
      return { tagName, attribs: isAbsolute(rest.href) ? { ...rest, rel: 'noopener nofollow' } : rest };
    },
    // GFM task-list boxes are the only inputs a post may hold, and they must stay inert.
    input: (_tagName, attribs) => ({
      tagName: attribs.type === 'checkbox' ? 'input' : 'span',
      attribs: { type: 'checkbox', disabled: '', ...('checked' in attribs ? { checked: '' } : {}) },
    }),
  },
};

/** A post's Markdown as sanitised HTML (GFM, highlighted code blocks). */
export function renderMarkdown(markdown: string): string {
  const rendered = postMarked.parse(markdown, { async: false });
  return sanitizeHtml(rendered, POST_SANITIZE);
}

// Comments are "Markdown-lite": block constructs a commenter has no business using are
// switched off in the lexer (a tokenizer returning undefined disables it), raw HTML is
// shown as text, and images degrade to their alt text.
const commentMarked = new Marked({
  gfm: true,
  breaks: true,
  tokenizer: {
    heading: () => undefined,
    lheading: () => undefined,
    table: () => undefined,
    html: () => undefined,
    tag: () => undefined,
  },
  renderer: {
    html: ({ text }: Tokens.HTML | Tokens.Tag) => escapeHtml(text),
    image: ({ text }: Tokens.Image) => escapeHtml(text),
    code: ({ text }: Tokens.Code) => `<pre><code>${escapeHtml(text)}</code></pre>\n`,
  },
});

const COMMENT_SANITIZE: sanitizeHtml.IOptions = {
  allowedTags: ['p', 'br', 'em', 'strong', 'del', 'code', 'pre', 'a', 'ul', 'ol', 'li', 'blockquote'],
  allowedAttributes: { a: ['href', 'rel'], ol: ['start'] },
  allowedSchemes: ['http', 'https', 'mailto'],
  allowProtocolRelative: true,
  nonTextTags: NON_TEXT,
  transformTags: {
    a: (tagName, attribs) => {
      const kept: sanitizeHtml.Attributes = attribs.href
        ? { href: attribs.href, rel: 'nofollow ugc noopener' }
        : {};
      return { tagName, attribs: kept };
    },
  },
};

/** A comment's Markdown-lite as sanitised HTML: no headings, images, tables or raw HTML. */
export function renderCommentMarkdown(markdown: string): string {
  const rendered = commentMarked.parse(markdown, { async: false });
  return sanitizeHtml(rendered, COMMENT_SANITIZE);
}

// Text extraction skips highlighting and keeps an image's alt text, which a reader of
// the page would see where the image fails to load.
const textMarked = new Marked({
  gfm: true,
  renderer: { image: ({ text }: Tokens.Image) => escapeHtml(text) },
});

const TEXT_ENTITIES: Record<string, string> = { '&amp;': '&', '&lt;': '<', '&gt;': '>', '&quot;': '"' };

/** Plain text of a Markdown document: no markup, entities decoded, one block per line. */
export function markdownToText(markdown: string): string {
  const rendered = textMarked.parse(markdown, { async: false });
  // With decodeEntities on, sanitize-html re-escapes only & < > (and "), so those few
  // entities are all that need undoing to get the text a reader sees.
  const text = sanitizeHtml(rendered, {
    allowedTags: [],
    allowedAttributes: {},
    nonTextTags: NON_TEXT,
  }).replace(/&(?:amp|lt|gt|quot);/g, (entity) => TEXT_ENTITIES[entity] ?? entity);
  return text
    .split('\n')
    .map((line) => line.replace(/[ \t\u00a0]+/g, ' ').trim())
    .filter((line) => line !== '')
    .join('\n');
}

/** The first `max` characters of the text (ellipsis included), cut at a word where there is one. */
export function deriveExcerpt(markdown: string, max = 200): string {
  const text = markdownToText(markdown).replace(/\s+/g, ' ').trim();
  // Count code points, so a cut never splits a surrogate pair (emoji, rare CJK).
  const chars = Array.from(text);
  if (chars.length <= max) return text;
  let cut = chars.slice(0, max - 1).join('');
  const space = cut.lastIndexOf(' ');
  // Break at a space only when one is near the end; CJK text has none and is cut anywhere.
  if (space > cut.length * 0.6) cut = cut.slice(0, space);
  return `${cut.replace(/[\s\p{P}]+$/u, '')}…`;
}
