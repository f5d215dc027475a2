import { type Static, Type } from 'typebox';
import { AI_KINDS } from './prompts.js';
import { Nullable, OneOf } from '../../http/schemas.js';

// Inputs are bounded here: a body this size already fills the context of most local models.
const TEXT_MAX = 60_000;

export const WriteRequest = Type.Object(
  {
    kind: Type.Union(
      AI_KINDS.map((k) => Type.Literal(k)),
      { description: 'the writing task' },
    ),
    title: Type.Optional(Type.String({ maxLength: 400 })),
    text: Type.Optional(
      Type.String({ maxLength: TEXT_MAX, description: 'the body so far, a selection, or the whole post' }),
    ),
    instruction: Type.Optional(Type.String({ maxLength: 500, description: 'for rewrite: what to change' })),
    model: Type.Optional(Type.String({ minLength: 1, maxLength: 100, description: 'a model alias' })),
    regenerate: Type.Optional(
      Type.Boolean({ description: 'skip the cache and any identical request in flight' }),
    ),
    stream: Type.Optional(
      Type.Boolean({ default: true, description: 'false: wait and answer with JSON instead of events' }),
    ),
  },
  { additionalProperties: false },
);
export type WriteRequest = Static<typeof WriteRequest>;

const Usage = Type.Object({ promptTokens: Type.Integer(), completionTokens: Type.Integer() });

export const WriteResult = Type.Object({
  id: Type.String(),
  text: Type.String(),
  model: Type.String(),
  provider: Type.String(),
  alias: Type.String(),
  usage: Usage,
  finishReason: Type.String(),
  cached: Type.Boolean(),
});

export const AiStatusSchema = Type.Object({
  enabled: Type.Boolean(),
  providers: Type.Array(
    Type.Object({
      name: Type.String(),
      kind: Type.String(),
      ok: Type.Boolean(),
      message: Type.String(),
      circuit: Type.String(),
      models: Type.Optional(Type.Array(Type.String())),
    }),
  ),
  queue: Type.Object({
    queued: Type.Integer(),
    inFlight: Type.Record(Type.String(), Type.Integer()),
    users: Type.Integer(),
  }),
});

/** One Server-Sent Event as the stream frames it (`id:`, `event:`, `data:` JSON). */
export const AiEventFrame = Type.Object(
  {
    id: Type.Integer({ description: 'the position in the stream; send as Last-Event-ID to resume' }),
    event: Type.Union(['start', 'token', 'notice', 'done', 'error'].map((e) => Type.Literal(e))),
    data: Type.Object(
      {},
      {
        additionalProperties: true,
        description:
          'start {generationId, alias, cached}; token {text}; notice {message}; done {model, provider, alias, usage, finishReason, cached, ttftMs, durationMs}; error {code, message, status, partial}',
      },
    ),
  },
  { title: 'AiEvent' },
);

export const JobRequest = Type.Object(
  {
    ...Type.Omit(WriteRequest, ['stream']).properties,
    callbackUrl: Type.Optional(
      Type.String({
        maxLength: 2000,
        description: 'POSTed the finished job, signed (Inkstone-Signature: t=…,v1=HMAC-SHA256 of "t.body")',
      }),
    ),
  },
  { additionalProperties: false },
);
export type JobRequest = Static<typeof JobRequest>;

const Attempt = Type.Object({
  attempt: Type.Integer(),
  at: Type.String({ format: 'date-time' }),
  status: Type.Union([Type.Integer(), Type.Null()]),
  error: Type.Union([Type.String(), Type.Null()]),
  durationMs: Type.Integer(),
});

export const Job = Type.Object({
  id: Type.String(),
  kind: Type.String(),
  status: OneOf(['queued', 'running', 'completed', 'failed', 'cancelled']),
  output: Type.String({ description: 'the answer so far, or all of it' }),
  model: Nullable(Type.String()),
  usage: Nullable(Usage),
  ttftMs: Nullable(Type.Integer()),
  durationMs: Nullable(Type.Integer()),
  error: Nullable(Type.String()),
  createdAt: Type.String({ format: 'date-time' }),
  updatedAt: Type.String({ format: 'date-time' }),
  events: Type.String({ description: 'the event stream (SSE); Last-Event-ID resumes it' }),
  callbackUrl: Nullable(Type.String()),
  webhook: Nullable(Type.Object({ status: Type.String(), attempts: Type.Array(Attempt) })),
});
