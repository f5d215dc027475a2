// Slugs keep letters and digits of every script, so a Chinese or Greek title gets a
// readable URL instead of an empty one. Combining marks stay too (without them Devanagari
// or Thai words would be cut apart at every vowel sign), but only after a letter or digit,
// and never the variation selectors that turn a symbol into an emoji.
const VARIATION_SELECTORS = /[\uFE00-\uFE0F\u{E0100}-\u{E01EF}]/gu;
const NOT_SLUG_CHARS = /[^\p{L}\p{N}\p{Mn}\p{Mc}]+/gu;
const LEADING_MARKS = /(^|-)[\p{Mn}\p{Mc}]+/gu;
const SEGMENT = '[\\p{L}\\p{N}][\\p{L}\\p{N}\\p{Mn}\\p{Mc}]*';

export const SLUG_MAX_GENERATED = 80;
export const SLUG_MAX = 100;

/** For JSON schemas; validators must compile it with the `u` flag (AJV 8, Fastify's default, does). */
export const SLUG_PATTERN = `^${SEGMENT}(?:-${SEGMENT})*$`;
const SLUG = new RegExp(SLUG_PATTERN, 'u');

/** A URL slug from any text; '' when the text has no letters or digits at all. */
export function slugify(text: string): string {
  const dashed = text
    .normalize('NFKC')
    .toLowerCase()
    .replace(VARIATION_SELECTORS, '')
    .replace(NOT_SLUG_CHARS, '-')
    .replace(LEADING_MARKS, '$1')
    .replace(/-{2,}/g, '-')
    .replace(/^-+|-+$/g, '');
  // Cut by code points so a character outside the BMP is never split in half.
  const chars = Array.from(dashed);
  if (chars.length <= SLUG_MAX_GENERATED) return dashed;
  return chars.slice(0, SLUG_MAX_GENERATED).join('').replace(/-+$/, '');
}

/** Lowercase letters/digits in runs joined by single dashes, at most SLUG_MAX characters. */
export function isValidSlug(slug: string): boolean {
  return (
    SLUG.test(slug) &&
    !/[\uFE00-\uFE0F\u{E0100}-\u{E01EF}]/u.test(slug) &&
    slug === slug.normalize('NFKC').toLowerCase() &&
    Array.from(slug).length <= SLUG_MAX
  );
}
