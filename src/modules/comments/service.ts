import { noPageCache, type PageInvalidator, pageTags } from '../../cache/page-cache.js';
import { noQueryCache, type QueryReader } from '../../cache/query-cache.js';
import { type Clock, isoNow } from '../../clock.js';
import type { CommentStatus } from '../../db/types.js';
import { AppError, fieldError, forbidden, notFound } from '../../errors.js';
import { type Actor, authorize, can, canDeleteComment } from '../access/permissions.js';
import { renderCommentMarkdown } from '../posts/markdown.js';
import type { Post } from '../posts/schemas.js';
import type { PostsService } from '../posts/service.js';
import type { CommentRecord, CommentsRepository } from './repository.js';
import { COMMENT_MAX, type Comment, type CommentList } from './schemas.js';

export class CommentsService {
  private readonly repo: CommentsRepository;

  constructor(
    private readonly deps: {
      repo: CommentsRepository;
      /** Whether this actor may see the post (404 if not), and whether it is live. */
      posts: Pick<PostsService, 'get'>;
      clock: Clock;
      /** A post's page shows its comments; lists show no comment counts. */
      pages?: PageInvalidator;
      /** The visible comments of a post, invalidated by the post's tag and their writers'. */
      queries?: QueryReader;
    },
  ) {
    this.repo = deps.repo;
  }

  toApi(row: CommentRecord, withPost = false): Comment {
    const comment: Comment = {
      id: row.id,
      postId: row.post_id,
      body: row.body,
      bodyHtml: row.body_html,
      status: row.status,
      createdAt: row.created_at,
      author: { id: row.author_id, username: row.username, displayName: row.display_name },
    };
    if (withPost) comment.post = { title: row.post_title, slug: row.post_slug };
    return comment;
  }

  /**
   * Hidden comments are left out, except for moderators, who see them marked. Given a Post
   * (which PostsService.get returned for this actor) its visibility is not looked up again.
   */
  async listForPost(post: number | Post, actor: Actor | null): Promise<Comment[]> {
    const postId = typeof post === 'number' ? (await this.deps.posts.get(post, actor)).id : post.id;
    // A moderator's list (hidden ones too) is read each time; the one every reader sees is
    // cached: building and compiling its query was a sixth of an uncached post page's CPU.
    const rows = can(actor, 'comment:moderate')
      ? await this.repo.listForPost(postId, true)
      : await (this.deps.queries ?? noQueryCache).get(
          'comments',
          String(postId),
          () => this.repo.listForPost(postId, false),
          {
            // Any comment written, deleted, hidden or shown invalidates the post's tag; a
            // writer's new name, their user tag.
            tags: (list) => [
              pageTags.post(postId),
              ...new Set(list.map((row) => pageTags.user(row.author_id))),
            ],
          },
        );
    return rows.map((row) => this.toApi(row));
  }

  async create(postId: number, body: string, actor: Actor | null): Promise<Comment> {
    authorize(actor, 'comment:create');
    const post = await this.deps.posts.get(postId, actor);
    if (post.status !== 'published') {
      throw new AppError(409, 'not_published', 'Comments open when the post is published.');
    }
    const text = body.trim();
    if (!text) throw fieldError('body', 'body must not be empty');
    if (text.length > COMMENT_MAX) throw fieldError('body', `body must be at most ${COMMENT_MAX} characters`);
    const id = await this.repo.create({
      postId,
      authorId: actor.id,
      body: text,
      bodyHtml: renderCommentMarkdown(text),
      createdAt: isoNow(this.deps.clock),
    });
    await this.postChanged(postId);
    return this.toApi(await this.getRow(id));
  }

  async delete(id: number, actor: Actor | null): Promise<Comment> {
    authorize(actor, 'comment:delete-own');
    const row = await this.getRow(id);
    if (!canDeleteComment(actor, { authorId: row.author_id }))
      throw forbidden('Only the writer or a moderator can delete a comment.');
    await this.repo.delete(id);
    await this.postChanged(row.post_id);
    return this.toApi(row, true);
  }

  async setStatus(id: number, status: CommentStatus, actor: Actor | null): Promise<Comment> {
    authorize(actor, 'comment:moderate');
    const row = await this.getRow(id);
    await this.repo.setStatus(id, status);
    await this.postChanged(row.post_id);
    return this.toApi(await this.getRow(id), true);
  }

  async moderationList(
    actor: Actor | null,
    page: number,
    perPage: number,
    status?: CommentStatus,
  ): Promise<CommentList> {
    authorize(actor, 'comment:moderate');
    const { rows, total } = await this.repo.listRecent(perPage, (page - 1) * perPage, status);
    return { items: rows.map((row) => this.toApi(row, true)), total };
  }

  private async postChanged(postId: number): Promise<void> {
    await (this.deps.pages ?? noPageCache).invalidate([pageTags.post(postId)]);
  }

  private async getRow(id: number): Promise<CommentRecord> {
    const row = await this.repo.get(id);
    if (!row) throw notFound('Comment');
    return row;
  }
}
