import { type Static, Type } from 'typebox';
import type { FormFailure } from '../../http/forms.js';
import { deriveExcerpt } from './markdown.js';
import { BODY_MAX, EXCERPT_MAX, type Post, type PostCreate, TITLE_MAX } from './schemas.js';

// The editor's form as HTTP sees it: its schema, and the translation between the form's
// strings and the service's input, both ways.

/** The editor form as the browser sends it: every field a string, tags comma-separated. */
export const EditorForm = Type.Object({
  title: Type.String({ maxLength: TITLE_MAX * 4 }),
  slug: Type.Optional(Type.String({ maxLength: 400 })),
  tags: Type.Optional(Type.String({ maxLength: 2000 })),
  excerpt: Type.Optional(Type.String({ maxLength: EXCERPT_MAX * 4 })),
  body: Type.Optional(Type.String({ maxLength: BODY_MAX })),
  status: Type.Optional(
    Type.Union([Type.Literal('draft'), Type.Literal('published'), Type.Literal('scheduled')]),
  ),
  publishedAt: Type.Optional(Type.String({ maxLength: 40 })),
  /** The publishedAt value the form was rendered with: unchanged means "keep the stored time". */
  publishedAtShown: Type.Optional(Type.String({ maxLength: 40 })),
  version: Type.Optional(Type.Integer({ minimum: 1 })),
  _csrf: Type.Optional(Type.String()),
});
export type EditorForm = Static<typeof EditorForm>;

export interface EditorState {
  post?: Post;
  values: Partial<Record<keyof EditorForm, string>>;
  failure?: FormFailure;
  /** Set when the post changed under the editor: the newer text, shown beside the author's own. */
  newer?: Post;
}

const splitTags = (tags: string | undefined) =>
  (tags ?? '')
    .split(/[,，、]/)
    .map((tag) => tag.trim())
    .filter(Boolean);

/** datetime-local has no zone; the form labels it UTC and we read it so. */
function toIso(local: string | undefined): string | undefined {
  const value = local?.trim();
  if (!value) return undefined;
  return /(?:[zZ]|[+-]\d\d:?\d\d)$/.test(value) ? value : `${value.length === 16 ? `${value}:00` : value}Z`;
}

const toLocal = (iso: string | null | undefined) => (iso ? iso.slice(0, 16) : '');

export function formInput(body: EditorForm): PostCreate {
  return {
    title: body.title,
    body: body.body ?? '',
    tags: splitTags(body.tags),
    excerpt: body.excerpt ?? '',
    status: body.status ?? 'draft',
    ...(body.slug?.trim() ? { slug: body.slug } : {}),
    // The field shows minutes only; sending it back unchanged would cut the stored seconds.
    ...(toIso(body.publishedAt) && body.publishedAt !== body.publishedAtShown
      ? { publishedAt: toIso(body.publishedAt) }
      : {}),
  };
}

export function valuesOf(post: Post): EditorState['values'] {
  return {
    title: post.title,
    slug: post.slug,
    tags: post.tags.map((t) => t.name).join(', '),
    // A derived excerpt stays out of the field: sent back, it would be saved as a custom one and
    // stop following the body.
    excerpt: post.excerpt === deriveExcerpt(post.body) ? '' : post.excerpt,
    body: post.body,
    status: post.status,
    publishedAt: toLocal(post.publishedAt),
    version: String(post.version),
  };
}
