import type { Db } from '../../db/index.js';
import type { CommentStatus } from '../../db/types.js';

export interface CommentRecord {
  id: number;
  post_id: number;
  author_id: number;
  body: string;
  body_html: string;
  status: CommentStatus;
  created_at: string;
  username: string;
  display_name: string;
  post_title: string;
  post_slug: string;
}

export class CommentsRepository {
  constructor(private readonly db: Db) {}

  private select() {
    return this.db
      .selectFrom('comments')
      .innerJoin('users', 'users.id', 'comments.author_id')
      .innerJoin('posts', 'posts.id', 'comments.post_id')
      .select([
        'comments.id',
        'comments.post_id',
        'comments.author_id',
        'comments.body',
        'comments.body_html',
        'comments.status',
        'comments.created_at',
        'users.username',
        'users.display_name',
        'posts.title as post_title',
        'posts.slug as post_slug',
      ]);
  }

  get(id: number): Promise<CommentRecord | undefined> {
    return this.select().where('comments.id', '=', id).executeTakeFirst();
  }

  listForPost(postId: number, includeHidden: boolean): Promise<CommentRecord[]> {
    let query = this.select().where('comments.post_id', '=', postId);
    if (!includeHidden) query = query.where('comments.status', '=', 'visible');
    return query.orderBy('comments.created_at', 'asc').orderBy('comments.id', 'asc').execute();
  }

  /** Newest first, across all posts: the moderation queue. */
  async listRecent(limit: number, offset: number, status?: CommentStatus) {
    let query = this.select();
    let count = this.db.selectFrom('comments').select((eb) => eb.fn.countAll().as('n'));
    if (status) {
      query = query.where('comments.status', '=', status);
      count = count.where('status', '=', status);
    }
    const rows = await query
      .orderBy('comments.created_at', 'desc')
      .orderBy('comments.id', 'desc')
      .limit(limit)
      .offset(offset)
      .execute();
    const { n } = await count.executeTakeFirstOrThrow();
    return { rows, total: Number(n) };
  }

  async create(row: { postId: number; authorId: number; body: string; bodyHtml: string; createdAt: string }) {
    const { id } = await this.db
      .insertInto('comments')
      .values({
        post_id: row.postId,
        author_id: row.authorId,
        body: row.body,
        body_html: row.bodyHtml,
        status: 'visible',
        created_at: row.createdAt,
      })
      .returning('id')
      .executeTakeFirstOrThrow();
    return id;
  }

  async setStatus(id: number, status: CommentStatus): Promise<boolean> {
    const result = await this.db
      .updateTable('comments')
      .set({ status })
      .where('id', '=', id)
      .executeTakeFirst();
    return Number(result.numUpdatedRows) > 0;
  }

  async delete(id: number): Promise<boolean> {
    const result = await this.db.deleteFrom('comments').where('id', '=', id).executeTakeFirst();
    return Number(result.numDeletedRows) > 0;
  }
}
