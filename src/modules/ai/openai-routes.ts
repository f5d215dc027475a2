import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import type { FastifyRequest } from 'fastify';
import { AppError } from '../../errors.js';
import { type ErrorBody, toErrorResponse } from '../../http/errors.js';
import { sendSse, sseFrame } from '../../http/sse.js';
import { authorize } from '../access/permissions.js';
import {
  ChatCompletion,
  ChatCompletionChunk,
  ChatCompletionRequest,
  ModelList,
  OpenAiError,
} from './openai-schemas.js';
import type { AiEvent } from './broadcast.js';
import type { ChatMessage, GenerateParams } from './providers/types.js';
import type { Generation } from './service.js';
import { type DoneEvent, wholeAnswer } from './whole-answer.js';

const SECURITY = [{ bearer: [] }];
const errorResponses = (...statuses: number[]) =>
  Object.fromEntries(statuses.map((status) => [status, OpenAiError]));

/**
 * The OpenAI-compatible door: `POST /v1/chat/completions` and `GET /v1/models`, so the
 * official SDKs work against Inkstone with a personal API token as the key. It is the same
 * pipeline as the editor's (limits, cache, coalescing, queue, fallbacks, records); only the
 * shapes differ, errors included.
 */
export const openAiRoutes: FastifyPluginAsyncTypebox = async (app) => {
  const { ai } = app.services;

  // Errors here, including a bad token refused before the handler, in OpenAI's shape.
  app.setErrorHandler(async (error, request, reply) => {
    const { status, body, headers } = toErrorResponse(error, request);
    if (headers) reply.headers(headers);
    return reply.code(status).send(openAiError(status, body));
  });

  app.get(
    '/v1/models',
    {
      schema: {
        tags: ['openai'],
        summary: 'The model aliases, OpenAI-style',
        security: SECURITY,
        response: { 200: ModelList, ...errorResponses(401, 403) },
      },
    },
    async (request) => {
      authorize(request.actor, 'ai:use');
      return {
        object: 'list' as const,
        data: ai
          .models()
          .map((m) => ({ id: m.id, object: 'model' as const, created: 0, owned_by: m.provider })),
      };
    },
  );

  app.post(
    '/v1/chat/completions',
    {
      schema: {
        tags: ['openai'],
        summary: 'Chat completions, OpenAI-compatible (stream or not)',
        description:
          'With `stream: true`, `chat.completion.chunk` events as the model writes, then `[DONE]`; a failure after the first chunk is sent in-band as `{"error": …}` and the stream closes without `[DONE]`.',
        security: SECURITY,
        body: ChatCompletionRequest,
        response: {
          200: {
            description: 'a completion, or its chunks as Server-Sent Events',
            content: {
              'application/json': { schema: ChatCompletion },
              'text/event-stream': { schema: ChatCompletionChunk },
            },
          },
          ...errorResponses(400, 401, 403, 404, 429, 503),
        },
      },
    },
    async (request, reply) => {
      authorize(request.actor, 'ai:use');
      const body = request.body;
      if (!ai.models().some((m) => m.id === body.model)) {
        throw new AppError(404, 'model_not_found', `The model \`${body.model}\` does not exist.`, {
          model: 'unknown model',
        });
      }
      const generation = await ai.generate(
        {
          kind: 'chat',
          messages: toMessages(body),
          params: toParams(body),
          alias: body.model,
          trace: request.traceContext,
        },
        request.actor,
      );
      reply.headers(generation.headers);
      const created = Math.floor(Date.now() / 1000);
      const id = `chatcmpl-${generation.id}`;
      if (!body.stream) return complete(generation, request, id, created);
      const usage = body.stream_options?.include_usage ?? false;
      return sendSse(request, reply, () => generation.broadcast.read(), {
        headers: generation.headers,
        encode: chunkFrames(id, created, body.model, usage),
      });
    },
  );
};

function toMessages(body: ChatCompletionRequest): ChatMessage[] {
  return body.messages.map((m) => ({
    // OpenAI's newer "developer" role is a system prompt to every other server.
    role: m.role === 'developer' ? 'system' : m.role,
    content: typeof m.content === 'string' ? m.content : m.content.map((part) => part.text).join(''),
  }));
}

function toParams(body: ChatCompletionRequest): GenerateParams {
  const params: GenerateParams = {};
  if (body.temperature !== undefined) params.temperature = body.temperature;
  if (body.top_p !== undefined) params.topP = body.top_p;
  const max = body.max_completion_tokens ?? body.max_tokens;
  if (max !== undefined) params.maxTokens = max;
  if (body.seed !== undefined) params.seed = body.seed;
  if (body.stop !== undefined) params.stop = typeof body.stop === 'string' ? [body.stop] : body.stop;
  return params;
}

const OPENAI_TYPES: Record<number, string> = {
  400: 'invalid_request_error',
  401: 'invalid_request_error',
  403: 'permission_error',
  404: 'invalid_request_error',
  409: 'invalid_request_error',
  413: 'invalid_request_error',
  429: 'rate_limit_exceeded',
};

function openAiError(status: number, body: ErrorBody) {
  const { code, message, fields } = body.error;
  const openAiCode = status === 401 ? 'invalid_api_key' : status === 429 ? 'rate_limit_exceeded' : code;
  return {
    error: {
      message,
      type: OPENAI_TYPES[status] ?? 'server_error',
      param: fields ? (Object.keys(fields)[0] ?? null) : null,
      code: openAiCode,
    },
  };
}

const usageOf = (event: DoneEvent) => ({
  prompt_tokens: event.usage.promptTokens,
  completion_tokens: event.usage.completionTokens,
  total_tokens: event.usage.promptTokens + event.usage.completionTokens,
});

/** The whole answer as one JSON completion; a client that leaves stops the generation. */
async function complete(generation: Generation, request: FastifyRequest, id: string, created: number) {
  const { text, done } = await wholeAnswer(generation, request.raw);
  return {
    id,
    object: 'chat.completion' as const,
    created,
    model: done.model,
    choices: [
      { index: 0, message: { role: 'assistant' as const, content: text }, finish_reason: done.finishReason },
    ],
    usage: usageOf(done),
  };
}

/**
 * Each event as OpenAI chunks: `start` as the assistant's role, tokens as deltas; a failure
 * after the first chunk goes in-band, never as [DONE]. `notice` has no OpenAI form.
 */
function chunkFrames(
  id: string,
  created: number,
  alias: string,
  includeUsage: boolean,
): (event: AiEvent) => string {
  const chunk = (model: string, delta: object, finish: string | null = null) =>
    sseFrame({
      data: {
        id,
        object: 'chat.completion.chunk',
        created,
        model,
        choices: [{ index: 0, delta, finish_reason: finish }],
      },
    });
  return (event) => {
    switch (event.type) {
      case 'start':
        return chunk(alias, { role: 'assistant', content: '' });
      case 'token':
        return chunk(alias, { content: event.text });
      case 'notice':
        return '';
      case 'error':
        return sseFrame({
          data: openAiError(event.status, { error: { code: event.code, message: event.message } }),
        });
      case 'done': {
        let frames = chunk(event.model, {}, event.finishReason);
        if (includeUsage) {
          frames += sseFrame({
            data: {
              id,
              object: 'chat.completion.chunk',
              created,
              model: event.model,
              choices: [],
              usage: usageOf(event),
            },
          });
        }
        return frames + sseFrame({ data: '[DONE]', raw: true });
      }
    }
  };
}
