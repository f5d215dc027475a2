import type { Generated, Insertable, Selectable, Updateable } from 'kysely';

// Times are stored as ISO-8601 UTC text ("2026-01-02T03:04:05.678Z") on both databases:
// the same string sorts and compares correctly on SQLite and PostgreSQL, and no driver
// converts it to a Date in the local time zone on the way out.
export type IsoTime = string;

export type Role = 'reader' | 'author' | 'editor' | 'admin';
export type PostStatus = 'draft' | 'published';
export type CommentStatus = 'visible' | 'hidden';

export interface UsersTable {
  id: Generated<number>;
  username: string;
  email: string;
  password_hash: string;
  display_name: string;
  bio: string;
  role: Role;
  created_at: IsoTime;
  updated_at: IsoTime;
}

export interface SessionsTable {
  /** sha256 of the cookie's token: a leaked database does not leak live sessions. */
  id: string;
  user_id: number;
  created_at: IsoTime;
  expires_at: IsoTime;
  user_agent: string;
}

export interface ApiTokensTable {
  id: Generated<number>;
  user_id: number;
  name: string;
  token_hash: string;
  /** First characters of the token, shown in lists so a user can tell tokens apart. */
  prefix: string;
  created_at: IsoTime;
  last_used_at: IsoTime | null;
}

export interface PostsTable {
  id: Generated<number>;
  author_id: number;
  title: string;
  slug: string;
  body: string;
  body_html: string;
  excerpt: string;
  /** Whether the author chose the excerpt, or it is derived from the body on each edit. */
  excerpt_custom: number;
  status: PostStatus;
  published_at: IsoTime | null;
  version: number;
  created_at: IsoTime;
  updated_at: IsoTime;
}

export interface TagsTable {
  id: Generated<number>;
  name: string;
  slug: string;
}

export interface PostTagsTable {
  post_id: number;
  tag_id: number;
}

export interface CommentsTable {
  id: Generated<number>;
  post_id: number;
  author_id: number;
  body: string;
  body_html: string;
  status: CommentStatus;
  created_at: IsoTime;
}

export interface SettingsTable {
  key: string;
  value: string;
}

/** SQLite only: the FTS5 index; rowid is the post id. PostgreSQL searches an expression index instead. */
export interface PostsFtsTable {
  rowid: number;
  title: string;
  body: string;
  tags: string;
}

export type GenerationStatus = 'completed' | 'failed' | 'cancelled';

export interface GenerationsTable {
  id: string;
  user_id: number | null;
  kind: string;
  alias: string;
  model: string | null;
  provider: string | null;
  status: GenerationStatus;
  cached: number;
  /** The messages sent, as JSON. */
  prompt: string;
  /** The generation parameters, as JSON. */
  params: string;
  /** The whole answer; for a failure, the part that was sent before it. */
  output: string;
  /** Every try (alias, provider, outcome, error, text), as JSON: failovers are on the record. */
  attempts: string;
  tokens_in: number;
  tokens_out: number;
  ttft_ms: number | null;
  duration_ms: number;
  error: string | null;
  created_at: IsoTime;
}

export type JobStatus = 'queued' | 'running' | GenerationStatus;

export interface AiJobsTable {
  id: string;
  generation_id: string;
  user_id: number;
  kind: string;
  status: JobStatus;
  /** The submitted body, as JSON. */
  request: string;
  /** sha256 of the canonical body: the same Idempotency-Key with another body is a conflict. */
  request_hash: string;
  idempotency_key: string | null;
  callback_url: string | null;
  webhook_status: 'pending' | 'delivered' | 'failed' | null;
  error: string | null;
  created_at: IsoTime;
  updated_at: IsoTime;
}

export interface WebhookDeliveriesTable {
  job_id: string;
  attempt: number;
  at: IsoTime;
  status: number | null;
  error: string | null;
  duration_ms: number;
}

export interface Database {
  users: UsersTable;
  sessions: SessionsTable;
  api_tokens: ApiTokensTable;
  posts: PostsTable;
  tags: TagsTable;
  post_tags: PostTagsTable;
  comments: CommentsTable;
  settings: SettingsTable;
  posts_fts: PostsFtsTable;
  generations: GenerationsTable;
  ai_jobs: AiJobsTable;
  webhook_deliveries: WebhookDeliveriesTable;
}

export type UserRow = Selectable<UsersTable>;
export type NewUserRow = Insertable<UsersTable>;
export type UserUpdate = Updateable<UsersTable>;
export type PostRow = Selectable<PostsTable>;
export type NewPostRow = Insertable<PostsTable>;
export type PostUpdate = Updateable<PostsTable>;
export type CommentRow = Selectable<CommentsTable>;
export type TagRow = Selectable<TagsTable>;
export type ApiTokenRow = Selectable<ApiTokensTable>;
export type NewGenerationRow = Insertable<GenerationsTable>;
export type GenerationRow = Selectable<GenerationsTable>;
export type AiJobRow = Selectable<AiJobsTable>;
export type WebhookDeliveryRow = Selectable<WebhookDeliveriesTable>;
