import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { Type } from 'typebox';
import { notFound } from '../../errors.js';
import { sendSse, sseFrame } from '../../http/sse.js';
import { errors, SIGNED_IN } from '../../http/schemas.js';
import { authorize } from '../access/permissions.js';
import type { AiEvent } from './broadcast.js';
import type { Generation } from './service.js';
import { wholeAnswer } from './whole-answer.js';
import { AiEventFrame, AiStatusSchema, WriteRequest, WriteResult } from './schemas.js';

const STREAM_DESCRIPTION =
  'Server-Sent Events: `start`, `token` ({text}) as the model writes, `notice`, then `done` (model, usage) or `error` (code, message). Each event has an id; GET /ai/generations/{id}/events with Last-Event-ID resumes.';

export const aiRoutes: FastifyPluginAsyncTypebox = async (app) => {
  const { ai, jobs } = app.services;

  const stream = (generation: Generation) => () => generation.broadcast.read();

  app.post(
    '/ai/write',
    {
      schema: {
        tags: ['ai'],
        summary: 'Draft, continue, rewrite, polish, summarise, or suggest titles or tags (authors and up)',
        description: STREAM_DESCRIPTION,
        security: SIGNED_IN,
        body: WriteRequest,
        response: {
          200: {
            description: 'the events as the model writes; with stream:false, the whole answer',
            content: {
              'text/event-stream': { schema: AiEventFrame },
              'application/json': { schema: WriteResult },
            },
          },
          ...errors(400, 401, 403, 429, 503),
        },
      },
    },
    async (request, reply) => {
      const { kind, title, text, instruction, model, regenerate } = request.body;
      const generation = await ai.write(kind, { title, text, instruction }, request.actor, {
        alias: model,
        fresh: regenerate,
        trace: request.traceContext,
      });
      if (request.body.stream === false) {
        reply.headers(generation.headers);
        const { text, done } = await wholeAnswer(generation, request.raw);
        const { model, provider, alias, usage, finishReason, cached } = done;
        return { id: generation.id, text, model, provider, alias, usage, finishReason, cached };
      }
      return sendSse(request, reply, stream(generation), { headers: generation.headers, encode: aiFrame });
    },
  );

  app.get(
    '/ai/generations/:id/events',
    {
      schema: {
        tags: ['ai'],
        summary: 'Resume a generation’s event stream after the Last-Event-ID header',
        description: STREAM_DESCRIPTION,
        security: SIGNED_IN,
        params: Type.Object({ id: Type.String({ maxLength: 64 }) }),
        headers: Type.Object({ 'last-event-id': Type.Optional(Type.Integer({ minimum: -1 })) }),
        response: {
          200: {
            description: 'the events after Last-Event-ID',
            content: { 'text/event-stream': { schema: AiEventFrame } },
          },
          ...errors(401, 403, 404),
        },
      },
    },
    async (request, reply) => {
      authorize(request.actor, 'ai:use');
      // A job's id (its owner or an admin only) or a generation's (the editor's stream, whose
      // random id is known only to the page that started it): both resume the same stream.
      const { id } = request.params;
      const job = await jobs.generationOf(id);
      if (job !== undefined) await jobs.get(id, request.actor);
      // With Redis, a job's events come from its stream, whichever worker (instance) runs it.
      const relayed = job !== undefined && (await jobs.relay(id, request.headers['last-event-id'] ?? -1));
      if (relayed) return sendSse(request, reply, relayed, { encode: aiFrame });
      // The editor's stream (or an in-process job's): from memory here, or relayed through
      // Redis from the instance that runs it.
      const events = await ai.resume(job ?? id, request.headers['last-event-id'] ?? -1);
      if (!events) throw notFound('Generation');
      return sendSse(request, reply, events, { encode: aiFrame });
    },
  );

  app.get(
    '/ai/status',
    {
      schema: {
        tags: ['ai'],
        summary: 'Each model provider’s status, circuit and queue (authors and up)',
        security: SIGNED_IN,
        response: { 200: AiStatusSchema, ...errors(401, 403) },
      },
    },
    async (request) => {
      authorize(request.actor, 'ai:use');
      return ai.status();
    },
  );
};

/**
 * The frames of events that many streams send as they are: a replay's tokens and end are the
 * same objects for every hit on one cached answer (see replayBroadcast), encoded once.
 */
const sharedFrames = new WeakMap<AiEvent, string>();

/** An event's SSE frame; a token (nearly every event) without building an object first. */
function aiFrame(event: AiEvent): string {
  if (Object.isFrozen(event)) {
    let frame = sharedFrames.get(event);
    if (frame === undefined) sharedFrames.set(event, (frame = encodeFrame(event)));
    return frame;
  }
  return encodeFrame(event);
}

function encodeFrame(event: AiEvent): string {
  if (event.type === 'token') {
    return `id: ${event.id}\nevent: token\ndata: {"text":${JSON.stringify(event.text)}}\n\n`;
  }
  const { id, type, ...data } = event;
  return sseFrame({ id, event: type, data });
}
