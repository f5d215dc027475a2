import { type Static, Type } from 'typebox';

// The request and response shapes of OpenAI's chat completions API, as far as Inkstone
// serves them. Unknown request fields are accepted and ignored: clients send many.

const TextPart = Type.Object({ type: Type.Literal('text'), text: Type.String() });

export const ChatCompletionRequest = Type.Object({
  model: Type.String({ minLength: 1, maxLength: 100, description: 'a model alias (GET /v1/models)' }),
  messages: Type.Array(
    Type.Object({
      role: Type.Union([
        Type.Literal('system'),
        Type.Literal('developer'),
        Type.Literal('user'),
        Type.Literal('assistant'),
      ]),
      content: Type.Union([Type.String({ maxLength: 200_000 }), Type.Array(TextPart, { maxItems: 64 })]),
    }),
    { minItems: 1, maxItems: 256 },
  ),
  stream: Type.Optional(Type.Boolean()),
  stream_options: Type.Optional(Type.Object({ include_usage: Type.Optional(Type.Boolean()) })),
  temperature: Type.Optional(Type.Number({ minimum: 0, maximum: 2 })),
  top_p: Type.Optional(Type.Number({ minimum: 0, maximum: 1 })),
  max_tokens: Type.Optional(Type.Integer({ minimum: 1, maximum: 1_000_000 })),
  max_completion_tokens: Type.Optional(Type.Integer({ minimum: 1, maximum: 1_000_000 })),
  seed: Type.Optional(Type.Integer()),
  stop: Type.Optional(
    Type.Union([Type.String(), Type.Array(Type.String(), { maxItems: 4 })], { description: 'up to 4' }),
  ),
  n: Type.Optional(Type.Literal(1, { description: 'one choice only' })),
});
export type ChatCompletionRequest = Static<typeof ChatCompletionRequest>;

const OpenAiUsage = Type.Object({
  prompt_tokens: Type.Integer(),
  completion_tokens: Type.Integer(),
  total_tokens: Type.Integer(),
});

export const ChatCompletion = Type.Object({
  id: Type.String(),
  object: Type.Literal('chat.completion'),
  created: Type.Integer(),
  model: Type.String({ description: 'the model that actually answered' }),
  choices: Type.Array(
    Type.Object({
      index: Type.Integer(),
      message: Type.Object({ role: Type.Literal('assistant'), content: Type.String() }),
      finish_reason: Type.String(),
    }),
  ),
  usage: OpenAiUsage,
});

export const ChatCompletionChunk = Type.Object(
  {
    id: Type.String(),
    object: Type.Literal('chat.completion.chunk'),
    created: Type.Integer(),
    model: Type.String(),
    choices: Type.Array(
      Type.Object({
        index: Type.Integer(),
        delta: Type.Object({ role: Type.Optional(Type.String()), content: Type.Optional(Type.String()) }),
        finish_reason: Type.Union([Type.String(), Type.Null()]),
      }),
    ),
    usage: Type.Optional(OpenAiUsage),
  },
  { title: 'ChatCompletionChunk' },
);

export const ModelList = Type.Object({
  object: Type.Literal('list'),
  data: Type.Array(
    Type.Object({
      id: Type.String(),
      object: Type.Literal('model'),
      created: Type.Integer(),
      owned_by: Type.String(),
    }),
  ),
});

export const OpenAiError = Type.Object(
  {
    error: Type.Object({
      message: Type.String(),
      type: Type.String(),
      param: Type.Union([Type.String(), Type.Null()]),
      code: Type.Union([Type.String(), Type.Null()]),
    }),
  },
  { title: 'OpenAiError' },
);
