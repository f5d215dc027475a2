import { describe, expect, it } from 'vitest';
import { html, raw, safeUrl } from '../../src/views/html.js';

describe('safeUrl', () => {
  it.each([
    '/posts/hello',
    '?page=2',
    '#comments',
    'https://example.com/a?b=c',
    'http://example.com',
    'mailto:someone@example.com',
    'posts/relative',
    '/@%E4%BD%A0%E5%A5%BD',
    '//example.com/protocol-relative',
    '/javascript:alert(1)',
    '?javascript:alert(1)',
    '#javascript:alert(1)',
  ])('keeps %s', (url) => {
    expect(safeUrl(url)).toBe(url);
  });

  it.each([
    'javascript:alert(1)',
    'JavaScript:alert(1)',
    ' javascript:alert(1)',
    'java\tscript:alert(1)',
    'java\nscript:alert(1)',
    '\u0001javascript:alert(1)',
    'data:text/html,<script>alert(1)</script>',
    'vbscript:msgbox(1)',
    'file:///etc/passwd',
  ])('replaces %j with #', (url) => {
    expect(safeUrl(url)).toBe('#');
  });
});

describe('html', () => {
  it('runs a value that starts a URL attribute through safeUrl, and escapes it', () => {
    const url = 'javascript:alert(1)';
    expect(html`<a href="${url}">x</a>`.value).toBe('<a href="#">x</a>');
    expect(html`<img src='${url}'>`.value).toBe("<img src='#'>");
    expect(html`<form action="${url}"></form>`.value).toBe('<form action="#"></form>');
    expect(html`<a href="${'/search?q=a&b="c"'}">x</a>`.value).toBe(
      '<a href="/search?q=a&amp;b=&quot;c&quot;">x</a>',
    );
  });

  it('leaves other attributes and text alone but escaped', () => {
    expect(html`<p title="${'javascript:x'}">${'javascript:x'}</p>`.value).toBe(
      '<p title="javascript:x">javascript:x</p>',
    );
    expect(html`<p>${'<b>'}${raw('<i>ok</i>')}</p>`.value).toBe('<p>&lt;b&gt;<i>ok</i></p>');
  });
});
