import { type Static, Type } from 'typebox';
import { Nullable, OneOf, Paged, PageNumber } from '../../http/schemas.js';
import { SLUG_MAX, SLUG_PATTERN } from './slug.js';

export const TITLE_MAX = 200;
export const BODY_MAX = 100_000;
export const EXCERPT_MAX = 500;
export const TAGS_MAX = 10;
export const TAG_MAX = 40;
export const PER_PAGE_MAX = 50;
export const QUERY_MAX = 200;

const DateTime = Type.String({ format: 'date-time' });

export const PostStatusSchema = OneOf(['draft', 'published', 'scheduled']);
export type ApiPostStatus = Static<typeof PostStatusSchema>;

export const SlugSchema = Type.String({ minLength: 1, maxLength: SLUG_MAX, pattern: SLUG_PATTERN });
const TitleInput = Type.String({ minLength: 1, maxLength: TITLE_MAX });
const BodyInput = Type.String({ maxLength: BODY_MAX });
const TagsInput = Type.Array(Type.String({ minLength: 1, maxLength: TAG_MAX }), { maxItems: TAGS_MAX });

export const TagRefSchema = Type.Object({ name: Type.String(), slug: Type.String() });
export type TagRef = Static<typeof TagRefSchema>;

export const AuthorSchema = Type.Object({
  id: Type.Integer(),
  username: Type.String(),
  displayName: Type.String(),
});

const summaryProperties = {
  id: Type.Integer(),
  title: Type.String(),
  slug: Type.String(),
  excerpt: Type.String(),
  status: PostStatusSchema,
  publishedAt: Nullable(DateTime),
  version: Type.Integer({ minimum: 1 }),
  createdAt: DateTime,
  updatedAt: DateTime,
  /** Site-relative and percent-encoded, e.g. /posts/%E4%BD%A0%E5%A5%BD. */
  url: Type.String(),
  author: AuthorSchema,
  tags: Type.Array(TagRefSchema),
};

export const PostSummarySchema = Type.Object(summaryProperties);
export type PostSummary = Static<typeof PostSummarySchema>;

export const PostSchema = Type.Object({
  ...summaryProperties,
  body: Type.String(),
  /** Sanitised HTML, safe to insert into a page as is. */
  bodyHtml: Type.String(),
});
export type Post = Static<typeof PostSchema>;

export const PostCreateSchema = Type.Object(
  {
    title: TitleInput,
    body: Type.Optional(BodyInput),
    slug: Type.Optional(SlugSchema),
    excerpt: Type.Optional(Type.String({ maxLength: EXCERPT_MAX })),
    tags: Type.Optional(TagsInput),
    status: Type.Optional(PostStatusSchema),
    publishedAt: Type.Optional(DateTime),
  },
  { additionalProperties: false },
);
export type PostCreate = Static<typeof PostCreateSchema>;

export const PostUpdateSchema = Type.Object(
  {
    title: Type.Optional(TitleInput),
    body: Type.Optional(BodyInput),
    slug: Type.Optional(SlugSchema),
    /** '' or null goes back to an excerpt derived from the body. */
    excerpt: Type.Optional(Type.Union([Type.String({ maxLength: EXCERPT_MAX }), Type.Null()])),
    tags: Type.Optional(TagsInput),
    status: Type.Optional(PostStatusSchema),
    publishedAt: Type.Optional(DateTime),
    /** The version the editor loaded; a stale one is refused with 409. */
    version: Type.Integer({ minimum: 1 }),
  },
  { additionalProperties: false },
);
export type PostUpdate = Static<typeof PostUpdateSchema>;

export const PostPublishSchema = Type.Object(
  { publishedAt: Type.Optional(DateTime) },
  { additionalProperties: false },
);
export type PostPublish = Static<typeof PostPublishSchema>;

/** 'all' (every status) is for "my posts" and editors, like the other non-public filters. */
export const PostListStatusSchema = Type.Union([
  Type.Literal('draft'),
  Type.Literal('published'),
  Type.Literal('scheduled'),
  Type.Literal('all'),
]);
export type PostListStatus = Static<typeof PostListStatusSchema>;

/** The status filter of "my posts" and of the admin's list, in the order its links show. */
export const STATUS_FILTERS = ['all', 'draft', 'scheduled', 'published'] as const;
export const StatusFilterQuery = Type.Object({
  status: Type.Union(
    STATUS_FILTERS.map((s) => Type.Literal(s)),
    { default: 'all' },
  ),
  page: PageNumber,
});

export const PostListQuerySchema = Type.Object({
  page: Type.Optional(PageNumber),
  perPage: Type.Optional(Type.Integer({ minimum: 1, maximum: PER_PAGE_MAX, default: 10 })),
  tag: Type.Optional(Type.String({ minLength: 1, maxLength: SLUG_MAX })),
  author: Type.Optional(Type.String({ minLength: 1, maxLength: 100 })),
  status: Type.Optional(PostListStatusSchema),
  q: Type.Optional(Type.String({ maxLength: QUERY_MAX })),
});
export type PostListQuery = Static<typeof PostListQuerySchema>;

export const PostSearchQuerySchema = Type.Object({
  q: Type.String({ minLength: 1, maxLength: QUERY_MAX }),
  page: Type.Optional(PageNumber),
  perPage: Type.Optional(Type.Integer({ minimum: 1, maximum: PER_PAGE_MAX, default: 10 })),
});
export type PostSearchQuery = Static<typeof PostSearchQuerySchema>;

export const PostListSchema = Paged(PostSummarySchema);
export type PostList = Static<typeof PostListSchema>;

export const TagSchema = Type.Object({ name: Type.String(), slug: Type.String(), count: Type.Integer() });
export type Tag = Static<typeof TagSchema>;

export const TagSlugParamsSchema = Type.Object({ slug: Type.String({ minLength: 1, maxLength: SLUG_MAX }) });
