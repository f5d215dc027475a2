// The two wire formats the fake model server speaks, as close to the real servers as a test
// needs: Ollama's native /api/chat (NDJSON; see ollama/ollama docs/api.md) and the
// OpenAI-compatible /v1/chat/completions (SSE; see the OpenAI API reference and openai-node's
// streaming.ts). The server decides what happens and when; these only say how it looks.
import { type FakeChatMessage } from './model-text.js';

export type ProtocolName = 'ollama' | 'openai';

export interface ParsedChat {
  model: string;
  messages: FakeChatMessage[];
  stream: boolean;
  maxTokens: number | undefined;
  includeUsage: boolean;
}

export type ErrorKind =
  | 'bad_request'
  | 'unauthorized'
  | 'model_not_found'
  | 'rate_limited'
  | 'server_error'
  | 'busy'
  | 'context_length'
  | 'content_filter'
  | 'prefill_refused';

export interface ErrorInfo {
  message?: string;
  model?: string;
  tokens?: number;
  limit?: number;
  reason?: string;
}

export interface StreamMeta {
  id: string;
  model: string;
  created: Date;
  includeUsage: boolean;
}

export interface Usage {
  promptTokens: number;
  completionTokens: number;
  loadNs: number;
  promptNs: number;
  evalNs: number;
  totalNs: number;
}

export type Finish = 'stop' | 'length';

export interface Protocol {
  readonly name: ProtocolName;
  readonly streamContentType: string;
  /** The request, or a message saying what is wrong with it (answered with 400). */
  parse(body: unknown): ParsedChat | string;
  error(kind: ErrorKind, info: ErrorInfo): { status: number; body: unknown };
  /** Sent with the headers, before the first token ('' when the format has none). */
  opening(meta: StreamMeta): string;
  token(meta: StreamMeta, text: string): string;
  /** `tail` carries the finish reason and usage; `terminator` is what `missingTerminator` drops. */
  closing(meta: StreamMeta, finish: Finish, usage: Usage): { tail: string; terminator: string };
  /** A policy stop after the tokens already sent, ending the stream. */
  filtered(meta: StreamMeta, reason: string, usage: Usage): string;
  errorLine(meta: StreamMeta, message: string): string;
  malformedLine(meta: StreamMeta): string;
  whole(meta: StreamMeta, text: string, finish: Finish | 'content_filter', usage: Usage): unknown;
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function numberOr(value: unknown): number | undefined {
  return typeof value === 'number' && Number.isFinite(value) ? value : undefined;
}

// OpenAI allows content as an array of parts; only the text parts matter to the fake.
function contentText(content: unknown): string {
  if (typeof content === 'string') return content;
  if (!Array.isArray(content)) return '';
  return content.map((part) => (isRecord(part) && typeof part.text === 'string' ? part.text : '')).join('');
}

function parseMessages(value: unknown): FakeChatMessage[] | string {
  if (!Array.isArray(value)) return 'messages must be an array';
  const messages: FakeChatMessage[] = [];
  for (const item of value) {
    if (!isRecord(item) || typeof item.role !== 'string') return 'each message needs a role';
    messages.push({ role: item.role, content: contentText(item.content) });
  }
  return messages;
}

const sse = (data: unknown) => `data: ${JSON.stringify(data)}\n\n`;
const ndjson = (data: unknown) => `${JSON.stringify(data)}\n`;

export const ollama: Protocol = {
  name: 'ollama',
  streamContentType: 'application/x-ndjson',

  parse(body) {
    if (!isRecord(body)) return 'invalid request body';
    if (typeof body.model !== 'string' || body.model === '') return 'model is required';
    const messages = body.messages === undefined ? [] : parseMessages(body.messages);
    if (typeof messages === 'string') return messages;
    const options = isRecord(body.options) ? body.options : {};
    return {
      model: body.model,
      messages,
      stream: body.stream !== false, // Ollama streams unless told not to
      maxTokens: numberOr(options.num_predict),
      includeUsage: true,
    };
  },

  error(kind, info) {
    const [status, message] = ((): [number, string] => {
      switch (kind) {
        case 'bad_request':
          return [400, info.message ?? 'invalid request'];
        case 'unauthorized':
          return [401, 'unauthorized'];
        case 'model_not_found':
          return [404, `model "${info.model}" not found, try pulling it first`];
        case 'rate_limited':
          return [429, 'too many requests, please try again later'];
        case 'server_error':
          return [500, info.message ?? 'llama runner process has terminated: exit status 2'];
        case 'busy':
          // Ollama's ErrMaxQueue, two spaces included.
          return [503, 'server busy, please try again.  maximum pending requests exceeded'];
        case 'context_length':
          return [400, 'input length exceeds maximum context length'];
        case 'content_filter':
          return [400, `content filter: ${info.reason ?? 'the request was blocked'}`];
        case 'prefill_refused':
          return [400, 'this model does not support continuing an assistant message (prefill)'];
      }
    })();
    return { status, body: { error: message } };
  },

  opening: () => '',

  token: (meta, text) =>
    ndjson({
      model: meta.model,
      created_at: new Date().toISOString(),
      message: { role: 'assistant', content: text },
      done: false,
    }),

  closing: (meta, finish, usage) => ({ tail: '', terminator: ndjson(ollamaFinal(meta, '', finish, usage)) }),

  // Ollama has no finish reason for policy; its error line is the nearest thing.
  filtered: (_meta, reason) => ndjson({ error: `content filter: ${reason}` }),

  errorLine: (_meta, message) => ndjson({ error: message }),

  malformedLine: (meta) => `{"model":"${meta.model}","created_at":"${meta.created.toISOString()}","mess\n`,

  whole: (meta, text, finish, usage) =>
    ollamaFinal(meta, text, finish === 'content_filter' ? 'stop' : finish, usage),
};

function ollamaFinal(meta: StreamMeta, content: string, finish: Finish, usage: Usage) {
  return {
    model: meta.model,
    created_at: new Date().toISOString(),
    message: { role: 'assistant', content },
    done: true,
    done_reason: finish,
    total_duration: usage.totalNs,
    load_duration: usage.loadNs,
    prompt_eval_count: usage.promptTokens,
    prompt_eval_duration: usage.promptNs,
    eval_count: usage.completionTokens,
    eval_duration: usage.evalNs,
  };
}

function openaiError(message: string, type: string, param: string | null, code: string | null) {
  return { error: { message, type, param, code } };
}

function chunk(meta: StreamMeta, choices: unknown[], usage?: Usage) {
  return {
    id: meta.id,
    object: 'chat.completion.chunk',
    created: Math.floor(meta.created.getTime() / 1000),
    model: meta.model,
    system_fingerprint: 'fp_fake',
    choices,
    // With include_usage every chunk carries `usage`, null until the last one.
    ...(meta.includeUsage ? { usage: usage ? openaiUsage(usage) : null } : {}),
  };
}

function openaiUsage(usage: Usage) {
  return {
    prompt_tokens: usage.promptTokens,
    completion_tokens: usage.completionTokens,
    total_tokens: usage.promptTokens + usage.completionTokens,
  };
}

function openaiTail(meta: StreamMeta, finish: string, usage: Usage): string {
  const last = sse(chunk(meta, [{ index: 0, delta: {}, logprobs: null, finish_reason: finish }]));
  return meta.includeUsage ? last + sse(chunk(meta, [], usage)) : last;
}

export const openai: Protocol = {
  name: 'openai',
  streamContentType: 'text/event-stream; charset=utf-8',

  parse(body) {
    if (!isRecord(body)) return 'We could not parse the JSON body of your request.';
    if (typeof body.model !== 'string' || body.model === '') return 'you must provide a model parameter';
    const messages = parseMessages(body.messages);
    if (typeof messages === 'string') return messages;
    if (messages.length === 0) return "[] is too short - 'messages'";
    const streamOptions = isRecord(body.stream_options) ? body.stream_options : {};
    return {
      model: body.model,
      messages,
      stream: body.stream === true,
      maxTokens: numberOr(body.max_completion_tokens) ?? numberOr(body.max_tokens),
      includeUsage: streamOptions.include_usage === true,
    };
  },

  error(kind, info) {
    switch (kind) {
      case 'bad_request':
        return {
          status: 400,
          body: openaiError(info.message ?? 'Bad request', 'invalid_request_error', null, null),
        };
      case 'unauthorized':
        return {
          status: 401,
          body: openaiError('Incorrect API key provided.', 'invalid_request_error', null, 'invalid_api_key'),
        };
      case 'model_not_found':
        return {
          status: 404,
          body: openaiError(
            `The model \`${info.model}\` does not exist or you do not have access to it.`,
            'invalid_request_error',
            null,
            'model_not_found',
          ),
        };
      case 'rate_limited':
        return {
          status: 429,
          body: openaiError('Rate limit reached for requests.', 'requests', null, 'rate_limit_exceeded'),
        };
      case 'server_error':
        return {
          status: 500,
          body: openaiError(
            info.message ?? 'The server had an error while processing your request. Sorry about that!',
            'server_error',
            null,
            null,
          ),
        };
      case 'busy':
        return {
          status: 503,
          body: openaiError(
            'The engine is currently overloaded, please try again later.',
            'server_error',
            null,
            null,
          ),
        };
      case 'context_length':
        return {
          status: 400,
          body: openaiError(
            `This model's maximum context length is ${info.limit ?? 0} tokens. However, your messages ` +
              `resulted in ${info.tokens ?? 0} tokens. Please reduce the length of the messages.`,
            'invalid_request_error',
            'messages',
            'context_length_exceeded',
          ),
        };
      case 'content_filter':
        return {
          status: 400,
          body: openaiError(
            `The response was filtered due to the prompt triggering the content management policy. ` +
              `Reason: ${info.reason ?? 'policy'}`,
            'invalid_request_error',
            'prompt',
            'content_filter',
          ),
        };
      case 'prefill_refused':
        return {
          status: 400,
          body: openaiError(
            'This model does not support an assistant message in the final position (prefill).',
            'invalid_request_error',
            'messages',
            null,
          ),
        };
    }
  },

  opening: (meta) =>
    sse(
      chunk(meta, [
        { index: 0, delta: { role: 'assistant', content: '' }, logprobs: null, finish_reason: null },
      ]),
    ),

  token: (meta, text) =>
    sse(chunk(meta, [{ index: 0, delta: { content: text }, logprobs: null, finish_reason: null }])),

  closing: (meta, finish, usage) => ({
    tail: openaiTail(meta, finish, usage),
    terminator: 'data: [DONE]\n\n',
  }),

  filtered: (meta, _reason, usage) => `${openaiTail(meta, 'content_filter', usage)}data: [DONE]\n\n`,

  // openai-node throws an APIError for any data payload with an `error` field.
  errorLine: (_meta, message) => sse(openaiError(message, 'server_error', null, null)),

  malformedLine: (meta) => `data: {"id":"${meta.id}","object":"chat.completion.chunk","choi\n\n`,

  whole: (meta, text, finish, usage) => ({
    id: meta.id,
    object: 'chat.completion',
    created: Math.floor(meta.created.getTime() / 1000),
    model: meta.model,
    system_fingerprint: 'fp_fake',
    choices: [
      {
        index: 0,
        message: { role: 'assistant', content: text, refusal: null },
        logprobs: null,
        finish_reason: finish,
      },
    ],
    usage: openaiUsage(usage),
  }),
};
