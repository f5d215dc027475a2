import { describe, expect, it } from 'vitest';
import {
  deriveExcerpt,
  markdownToText,
  renderCommentMarkdown,
  renderMarkdown,
} from '../../../src/modules/posts/markdown.js';

describe('renderMarkdown', () => {
  it('renders GFM: headings, emphasis, lists, tables, strikethrough, task lists', () => {
    const out = renderMarkdown(
      '# Title\n\n*em* **strong** ~~gone~~\n\n- one\n- [x] done\n\n| a | b |\n|:-|-:|\n| 1 | 2 |\n\n> quote\n\n---',
    );
    expect(out).toContain('<h1>Title</h1>');
    expect(out).toContain('<em>em</em> <strong>strong</strong> <del>gone</del>');
    expect(out).toContain('<li>one</li>');
    expect(out).toMatch(/<input type="checkbox" disabled(="")? checked(="")? \/?>/);
    expect(out).toContain('<th align="left">a</th>');
    expect(out).toContain('<td align="right">2</td>');
    expect(out).toContain('<blockquote>');
    expect(out).toContain('<hr />');
  });

  it('removes <script>, <style> and <iframe> with their content', () => {
    const out = renderMarkdown(
      'before <script>alert(1)</script> <style>body{display:none}</style> <iframe src="https://evil.test"></iframe> after',
    );
    expect(out).not.toMatch(/script|alert|style|display:none|iframe|evil/i);
    expect(out).toContain('before');
    expect(out).toContain('after');
  });

  it('makes <img src=x onerror=alert(1)> inert', () => {
    const out = renderMarkdown('<img src=x onerror=alert(1)>');
    expect(out).toContain('<img src="x"');
    expect(out).not.toMatch(/onerror|alert/);
  });

  it('strips every on* handler from allowed tags', () => {
    const out = renderMarkdown('<div onmouseover="steal()">hover</div> <a href="/x" onclick="steal()">x</a>');
    expect(out).not.toMatch(/on\w+=|steal/);
    expect(out).toContain('<div>hover</div>');
  });

  it('drops javascript:, vbscript: and data: URLs from links and images', () => {
    const out = renderMarkdown(
      '[x](javascript:alert(1)) [y](JaVaScRiPt:alert(2)) <a href="vbscript:msgbox">v</a> ' +
        '<a href="java&#x09;script:alert(3)">t</a> [d](data:text/html,hi) ![i](data:image/png;base64,AAAA)',
    );
    expect(out).toContain('<a>x</a>');
    expect(out).toContain('<a>y</a>');
    expect(out).not.toMatch(/javascript|vbscript|data:|alert/i);
    expect(out).toContain('<img alt="i" />');
  });

  it('keeps http(s), mailto and relative URLs; absolute links get rel="noopener nofollow"', () => {
    const out = renderMarkdown(
      '[abs](https://example.com/a) [rel](/posts/b) [mail](mailto:a@example.com) ![pic](https://example.com/p.png "Pic")',
    );
    expect(out).toContain('<a href="https://example.com/a" rel="noopener nofollow">abs</a>');
    expect(out).toContain('<a href="/posts/b">rel</a>');
    expect(out).toContain('<a href="mailto:a@example.com">mail</a>');
    expect(out).toContain('<img src="https://example.com/p.png" alt="pic" title="Pic" />');
  });

  it('replaces an author-supplied rel and drops target', () => {
    const out = renderMarkdown('<a href="https://example.com" rel="opener" target="_blank">e</a>');
    expect(out).toBe('<p><a href="https://example.com" rel="noopener nofollow">e</a></p>\n');
  });

  it('highlights fenced code with a known language and keeps the hljs classes', () => {
    const out = renderMarkdown('```ts\nconst answer: number = 42;\n```');
    expect(out).toContain('<pre><code class="hljs language-ts">');
    expect(out).toContain('<span class="hljs-keyword">const</span>');
    expect(out).toContain('<span class="hljs-number">42</span>');
  });

  it('escapes code in an unknown language and never lets the info string inject attributes', () => {
    const out = renderMarkdown('```nope" onclick="x\n<b>not bold</b>\n```');
    expect(out).toBe('<pre><code>&lt;b&gt;not bold&lt;/b&gt;</code></pre>\n');
  });

  it('keeps safe raw HTML', () => {
    expect(renderMarkdown('<details><summary>More</summary>Hidden <kbd>Ctrl</kbd></details>')).toContain(
      '<details><summary>More</summary>Hidden <kbd>Ctrl</kbd></details>',
    );
  });
});

describe('renderCommentMarkdown', () => {
  it('renders the lite subset with nofollow ugc links', () => {
    const out = renderCommentMarkdown(
      'Hi *there* **you** `code`\nnext line [site](https://example.com)\n\n> q\n\n- a',
    );
    expect(out).toContain('<em>there</em> <strong>you</strong> <code>code</code><br />next line');
    expect(out).toContain('<a href="https://example.com" rel="nofollow ugc noopener">site</a>');
    expect(out).toContain('<blockquote>');
    expect(out).toContain('<li>a</li>');
  });

  it('has no headings, images, tables or raw HTML', () => {
    const out = renderCommentMarkdown(
      '# Big\n\n![pic](https://example.com/p.png)\n\n| a | b |\n|-|-|\n| 1 | 2 |\n\n<b>bold</b> <script>alert(1)</script>',
    );
    expect(out).not.toMatch(/<h1|<img|<table|<b>|<script/);
    expect(out).toContain('# Big');
    expect(out).toContain('pic');
    expect(out).toContain('&lt;b&gt;bold&lt;/b&gt;');
  });

  it('drops javascript: links in comments', () => {
    const out = renderCommentMarkdown('[x](javascript:alert(1))');
    expect(out).toMatch(/^<p><a( rel="nofollow ugc noopener")?>x<\/a><\/p>\n$/);
    expect(out).not.toMatch(/href|javascript/);
  });
});

describe('markdownToText and deriveExcerpt', () => {
  it('gives plain text with entities decoded, one block per line', () => {
    const text = markdownToText(
      '# Hi &amp; <b>bold</b>\n\nSome *text* `a<b` ![alt text](x.png)\n\n- a\n- b\n\n<script>x()</script>',
    );
    expect(text).toBe('Hi & bold\nSome text a<b alt text\na\nb');
  });

  it('returns short text unchanged and cuts long text at a word with an ellipsis', () => {
    expect(deriveExcerpt('A *short* post.')).toBe('A short post.');
    const excerpt = deriveExcerpt('lorem ipsum '.repeat(50));
    expect(excerpt.length).toBeLessThanOrEqual(200);
    expect(excerpt).toMatch(/(lorem|ipsum)…$/);
  });

  it('cuts CJK text, which has no spaces, at a character', () => {
    const excerpt = deriveExcerpt('这是一个关于博客的很长的句子'.repeat(30), 50);
    expect(Array.from(excerpt)).toHaveLength(50);
    expect(excerpt.endsWith('…')).toBe(true);
  });

  it('never splits an emoji (surrogate pair)', () => {
    const excerpt = deriveExcerpt('😀'.repeat(300), 10);
    expect(excerpt).toBe(`${'😀'.repeat(9)}…`);
  });
});
