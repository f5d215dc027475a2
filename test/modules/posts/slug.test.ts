import { describe, expect, it } from 'vitest';
import { isValidSlug, slugify } from '../../../src/modules/posts/slug.js';

describe('slugify', () => {
  it('lowercases and dashes Latin text', () => {
    expect(slugify('  Hello, World! It’s 2030  ')).toBe('hello-world-it-s-2030');
  });

  it('keeps Chinese, Japanese and accented letters', () => {
    expect(slugify('你好 世界')).toBe('你好-世界');
    expect(slugify('東京の夏・カレー')).toBe('東京の夏-カレー');
    expect(slugify('Café Crème')).toBe('café-crème');
    expect(slugify('नमस्ते दुनिया')).toBe('नमस्ते-दुनिया');
  });

  it('normalises compatibility forms (NFKC): full-width letters and ligatures', () => {
    expect(slugify('ＡＢＣ １２３')).toBe('abc-123');
    expect(slugify('ﬁle')).toBe('file');
  });

  it('turns emoji and symbols into separators, and an all-symbol title into ""', () => {
    expect(slugify('I ❤️ TypeScript 🚀!!')).toBe('i-typescript');
    expect(slugify('🎉🎉 ✨ --- ***')).toBe('');
    expect(slugify('')).toBe('');
    expect(slugify('1️⃣ step')).toBe('1-step');
    expect(slugify('\u0301accent first')).toBe('accent-first');
  });

  it('keeps at most 80 characters and no trailing dash', () => {
    const slug = slugify(`${'word '.repeat(40)}`);
    expect(Array.from(slug).length).toBeLessThanOrEqual(80);
    expect(slug.endsWith('-')).toBe(false);
    expect(slug.startsWith('word-word')).toBe(true);
    expect(Array.from(slugify('字'.repeat(120)))).toHaveLength(80);
  });
});

describe('isValidSlug', () => {
  it('accepts what slugify makes', () => {
    for (const title of ['Hello World', '你好 世界', 'Café 2030'])
      expect(isValidSlug(slugify(title))).toBe(true);
  });

  it('rejects uppercase, spaces, double or edge dashes, symbols and over-long slugs', () => {
    for (const bad of ['Hello', 'a b', 'a--b', '-a', 'a-', 'a/b', 'a_b', '', 'x'.repeat(101)]) {
      expect(isValidSlug(bad), bad).toBe(false);
    }
    expect(isValidSlug('x'.repeat(100))).toBe(true);
  });
});
