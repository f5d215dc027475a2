import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { Type } from 'typebox';
import { errors, NoContent, SIGNED_IN } from '../../http/schemas.js';
import { Job, JobRequest } from './schemas.js';

const IdParam = Type.Object({ id: Type.String({ minLength: 1, maxLength: 64 }) });

/** Generations as jobs: submit and get 202, poll, stream, cancel; a webhook when done. */
export const jobRoutes: FastifyPluginAsyncTypebox = async (app) => {
  const { jobs } = app.services;

  app.post(
    '/ai/generations',
    {
      schema: {
        tags: ['ai'],
        summary: 'Submit a writing task as a job (202); an Idempotency-Key makes retries safe',
        security: SIGNED_IN,
        headers: Type.Object({
          'idempotency-key': Type.Optional(Type.String({ minLength: 1, maxLength: 200 })),
        }),
        body: JobRequest,
        response: { 202: Job, 200: Job, ...errors(400, 401, 403, 409, 429, 503) },
      },
    },
    async (request, reply) => {
      const { job, created } = await jobs.submit(
        request.body,
        request.actor,
        request.headers['idempotency-key'],
        request.traceContext,
      );
      // Ties this request's id to the job's, whose own lines (a worker's, later) carry `job`.
      if (created) request.log.info({ job: job.id }, 'job queued');
      // The same key and body again: the same job, as it is now.
      return reply
        .code(created ? 202 : 200)
        .header('location', `/api/v1/ai/generations/${job.id}`)
        .send(job);
    },
  );

  app.get(
    '/ai/generations/:id',
    {
      schema: {
        tags: ['ai'],
        summary: 'A job: status, output so far or in full, usage, timings, error, webhook attempts',
        security: SIGNED_IN,
        params: IdParam,
        response: { 200: Job, ...errors(401, 403, 404) },
      },
    },
    async (request) => jobs.get(request.params.id, request.actor),
  );

  app.delete(
    '/ai/generations/:id',
    {
      schema: {
        tags: ['ai'],
        summary: 'Cancel a running job: the model call stops',
        security: SIGNED_IN,
        params: IdParam,
        response: { 204: NoContent, ...errors(401, 403, 404, 409) },
      },
    },
    async (request, reply) => {
      await jobs.cancel(request.params.id, request.actor, request.traceContext);
      return reply.code(204).send(null);
    },
  );
};
