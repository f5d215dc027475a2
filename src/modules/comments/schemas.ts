import { type Static, Type } from 'typebox';

export const COMMENT_MAX = 5000;

export const CommentStatusSchema = Type.Union([Type.Literal('visible'), Type.Literal('hidden')]);

export const CommentSchema = Type.Object({
  id: Type.Integer(),
  postId: Type.Integer(),
  body: Type.String({ description: 'Markdown-lite source' }),
  bodyHtml: Type.String({ description: 'sanitised HTML' }),
  status: CommentStatusSchema,
  createdAt: Type.String({ format: 'date-time' }),
  author: Type.Object({ id: Type.Integer(), username: Type.String(), displayName: Type.String() }),
  post: Type.Optional(Type.Object({ title: Type.String(), slug: Type.String() })),
});
export type Comment = Static<typeof CommentSchema>;

export const CommentListSchema = Type.Object({ items: Type.Array(CommentSchema), total: Type.Integer() });
export type CommentList = Static<typeof CommentListSchema>;

export const NewCommentSchema = Type.Object(
  { body: Type.String({ minLength: 1, maxLength: COMMENT_MAX }) },
  { additionalProperties: false },
);
export const CommentStatusUpdateSchema = Type.Object(
  { status: CommentStatusSchema },
  { additionalProperties: false },
);
