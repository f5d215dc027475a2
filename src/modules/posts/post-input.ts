import { fieldError } from '../../errors.js';
import { BODY_MAX, EXCERPT_MAX, TAG_MAX, TAGS_MAX, TITLE_MAX } from './schemas.js';
import { isValidSlug, slugify } from './slug.js';
import { normalizeTagName, uniqueTags } from './tag-repository.js';

// Inputs are checked here as well as by the route schemas, because HTML forms and the CLI
// call the service without going through the JSON API's validation. Each function returns
// the value as stored or throws a field error naming what to fix.

export function cleanTitle(title: string): string {
  const clean = title.trim();
  if (!clean) throw fieldError('title', 'Give the post a title.');
  if (Array.from(clean).length > TITLE_MAX)
    throw fieldError('title', `Keep the title to ${TITLE_MAX} characters.`);
  return clean;
}

export function cleanBody(body: string): string {
  if (body.length > BODY_MAX)
    throw fieldError('body', `Keep the post to ${BODY_MAX.toLocaleString('en')} characters.`);
  return body;
}

/** undefined for "derive it from the body". */
export function cleanExcerpt(excerpt: string | null | undefined): string | undefined {
  const clean = excerpt?.trim();
  if (!clean) return undefined;
  if (Array.from(clean).length > EXCERPT_MAX)
    throw fieldError('excerpt', `Keep the excerpt to ${EXCERPT_MAX} characters.`);
  return clean;
}

export function cleanSlug(slug: string): string {
  const clean = slug.trim().normalize('NFKC').toLowerCase();
  if (!isValidSlug(clean)) {
    throw fieldError('slug', 'Use letters, digits and single dashes (no spaces), at most 100 characters.');
  }
  return clean;
}

/** Tag names as stored: each checked, then de-duplicated by the rule the repository applies too. */
export function cleanTags(names: readonly string[]): string[] {
  for (const raw of names) {
    const name = normalizeTagName(raw);
    if (!name) continue;
    if (Array.from(name).length > TAG_MAX)
      throw fieldError('tags', `Keep each tag to ${TAG_MAX} characters.`);
    if (!slugify(name)) throw fieldError('tags', `The tag "${name}" needs at least one letter or digit.`);
  }
  const tags = uniqueTags(names);
  // Counted after de-duplication: "News, news" is one tag.
  if (tags.length > TAGS_MAX) throw fieldError('tags', `Use at most ${TAGS_MAX} tags.`);
  return tags.map((tag) => tag.name);
}

/** An ISO time with an explicit zone, as stored (UTC). A zone-less time would depend on the server's TZ. */
export function parseTime(value: string): string {
  const time = new Date(value);
  if (!/(?:[zZ]|[+-]\d\d:?\d\d)$/.test(value.trim()) || Number.isNaN(time.getTime())) {
    throw fieldError('publishedAt', 'Give a date and time with a time zone, like 2030-01-31T09:00:00Z.');
  }
  return time.toISOString();
}
