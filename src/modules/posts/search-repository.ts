import { type Expression, type SelectQueryBuilder, type SqlBool, sql } from 'kysely';
import type { Db, Dialect } from '../../db/index.js';
import { type PageWindow, pageWithTotal } from '../../db/paging.js';
import type { Database, IsoTime } from '../../db/types.js';
import { conditions, type PostsEb, type RecordPage, SUMMARY_COLUMNS } from './post-query.js';
import { ftsQuery, likeMatch, postgresMatch, searchTerms } from './search-sql.js';
import type { TagRepository } from './tag-repository.js';

export type SearchQuery = { now: IsoTime; authorUsername?: string; tagSlug?: string } & PageWindow;

type PostsQuery = SelectQueryBuilder<Database, 'posts' | 'users', object>;

interface Matched {
  query: PostsQuery;
  /** Order-by expression: the best match sorts first. */
  rank: Expression<unknown>;
}

/** Full-text search over visible posts: SQLite FTS5 (or LIKE) and PostgreSQL text search. */
export class SearchRepository {
  constructor(
    private db: Db,
    private dialect: Dialect,
    private tags: TagRepository,
  ) {}

  /** Visible posts matching `q`, best match first; newer first among equal matches. */
  async search(q: string, options: SearchQuery): Promise<RecordPage> {
    const terms = searchTerms(q);
    if (terms.length === 0) return { rows: [], total: 0 };
    const visible = (eb: PostsEb) => conditions(eb, { ...options, visibleAt: options.now });
    const from = this.db.selectFrom('posts').innerJoin('users', 'users.id', 'posts.author_id').where(visible);
    const { query, rank } = this.match(from, q, terms);
    const { rows, total } = await pageWithTotal(
      query,
      (matched) =>
        matched
          .select(SUMMARY_COLUMNS)
          .orderBy(rank)
          .orderBy('posts.published_at', 'desc')
          .orderBy('posts.id', 'desc'),
      options,
    );
    return { rows: await this.tags.withTags(rows), total };
  }

  private match(from: PostsQuery, q: string, terms: string[]): Matched {
    // The trigram tokenizer cannot match a term shorter than three characters (and two
    // characters is a common Chinese word), so such queries scan with LIKE instead.
    if (this.dialect === 'sqlite' && terms.every((term) => Array.from(term).length >= 3)) {
      const hits = this.db
        .selectFrom('posts_fts')
        .select(['rowid', sql<number>`bm25(posts_fts, 10.0, 1.0, 5.0)`.as('score')])
        .where(sql<SqlBool>`posts_fts match ${ftsQuery(terms)}`)
        .as('hit');
      return {
        // The join adds "hit" to the builder's type, which would make this branch's query a
        // different type from the others'; "hit" is read only through `rank`, so the query
        // is typed as the posts-and-users query that search() pages through.
        query: from.innerJoin(hits, 'hit.rowid', 'posts.id') as unknown as PostsQuery,
        // bm25 is lower for a better match.
        rank: sql.ref('hit.score'),
      };
    }
    const match = this.dialect === 'sqlite' ? likeMatch(terms) : postgresMatch(q, terms);
    return { query: from.where(match.where), rank: match.rank };
  }
}
