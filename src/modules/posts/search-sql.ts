import { type Expression, type SqlBool, sql } from 'kysely';

// SQL fragments for SearchRepository.search, one per way of matching. They refer to the
// posts table by name, so they fit any query that selects from posts.

// Scripts written without spaces between words: PostgreSQL's parser sees a whole run of
// them as one token, so a word inside it can only be found by substring.
const UNSPACED_SCRIPT =
  /[\p{Script=Han}\p{Script=Hiragana}\p{Script=Katakana}\p{Script=Thai}\p{Script=Lao}\p{Script=Khmer}\p{Script=Myanmar}]/u;

// Query-syntax characters at a term's edges ("quoted", (grouped), -negated, prefix*) are
// dropped, so a query typed for another search engine still finds the words inside it.
const EDGE_SYNTAX = /^["'()[\]{}*^:\-“”‘’「」『』]+|["'()[\]{}*^:\-“”‘’「」『』]+$/gu;

// More terms than this add cost, not precision; the query is at most 200 characters anyway.
const MAX_TERMS = 16;

/** The words of a search query, in the order typed. */
export function searchTerms(q: string): string[] {
  return q
    .split(/\s+/)
    .map((term) => term.replace(EDGE_SYNTAX, ''))
    .filter(Boolean)
    .slice(0, MAX_TERMS);
}

export const escapeLikeText = (text: string) => text.replace(/[\\%_]/g, '\\$&');
export const containing = (term: string) => `%${escapeLikeText(term)}%`;

export interface Match {
  where: Expression<SqlBool>;
  /** Order-by expression: the best match sorts first. */
  rank: Expression<unknown>;
}

/** Each term quoted as an FTS5 string, so user input never reaches FTS5's query syntax. */
export function ftsQuery(terms: string[]): string {
  return terms.map((term) => `"${term.replaceAll('"', '""')}"`).join(' ');
}

/** Every term must occur in the title or the body. */
export function substringMatch(terms: string[], op: 'like' | 'ilike'): Expression<SqlBool> {
  const like = sql.raw(op);
  const clauses = terms.map((term) => {
    const pattern = containing(term);
    return sql`(posts.title ${like} ${pattern} escape '\\' or posts.body ${like} ${pattern} escape '\\')`;
  });
  return sql<SqlBool>`(${sql.join(clauses, sql` and `)})`;
}

export function likeMatch(terms: string[]): Match {
  const inTitle = sql`case when posts.title like ${containing(terms[0]!)} escape '\\' then 0 else 1 end`;
  return { where: substringMatch(terms, 'like'), rank: inTitle };
}

export function postgresMatch(q: string, terms: string[]): Match {
  // Written exactly as the posts_search index expression, or the planner will not use it.
  const document = sql`to_tsvector('simple', posts.title || ' ' || posts.body)`;
  const query = sql`websearch_to_tsquery('simple', ${q})`;
  const fullText = sql<SqlBool>`${document} @@ ${query}`;
  // A substring scan cannot use the index, so it is added only when words may hide inside runs of CJK text.
  const where = UNSPACED_SCRIPT.test(q)
    ? sql<SqlBool>`(${fullText} or ${substringMatch(terms, 'ilike')})`
    : fullText;
  return { where, rank: sql`ts_rank(${document}, ${query}) desc` };
}
