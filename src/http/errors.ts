import type { FastifyError, FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { AppError } from '../errors.js';

export interface ErrorBody {
  error: { code: string; message: string; fields?: Record<string, string> };
}

interface ValidationIssue {
  instancePath?: string;
  message?: string;
  params?: Record<string, unknown>;
}

/** Turns AJV's findings into { field: message }, naming the field the way the client sent it. */
export function fieldsFromValidation(issues: readonly ValidationIssue[]): Record<string, string> {
  const fields: Record<string, string> = {};
  for (const issue of issues) {
    const missing = issue.params?.missingProperty;
    const path = (issue.instancePath ?? '').replace(/^\//, '').replaceAll('/', '.');
    const field = typeof missing === 'string' ? (path ? `${path}.${missing}` : missing) : path || 'body';
    if (fields[field]) continue;
    const allowed = issue.params?.allowedValues;
    fields[field] =
      typeof missing === 'string'
        ? `${field} is required`
        : Array.isArray(allowed)
          ? `${field} must be one of ${allowed.join(', ')}`
          : `${field} ${issue.message ?? 'is invalid'}`.trim();
  }
  return fields;
}

// A locked SQLite file (after busy_timeout) or a PostgreSQL server that is down, restarting
// or out of connections is a temporary condition, not a bug: 503 with Retry-After.
const UNAVAILABLE = new Set([
  'SQLITE_BUSY',
  'SQLITE_LOCKED',
  'ECONNREFUSED',
  'ECONNRESET',
  'ETIMEDOUT',
  'ENOTFOUND',
  'EAI_AGAIN',
  'EHOSTUNREACH',
  'ENETUNREACH',
  '57014', // query_canceled: statement_timeout (see src/db/index.ts)
  '55P03', // lock_not_available: lock_timeout
  '57P01', // admin_shutdown
  '57P03', // cannot_connect_now
  '53300', // too_many_connections
]);

/** Maps any thrown error to a status and the one error shape; 5xx causes stay in the log. */
export function toErrorResponse(
  error: unknown,
  request: FastifyRequest,
): { status: number; body: ErrorBody; headers?: Record<string, string> } {
  if (error instanceof AppError) {
    const body: ErrorBody = { error: { code: error.code, message: error.message } };
    if (error.fields) body.error.fields = error.fields;
    return { status: error.status, body, headers: error.headers };
  }
  const fastifyError = error as FastifyError;
  if (fastifyError.validation) {
    const fields = fieldsFromValidation(fastifyError.validation);
    const where = fastifyError.validationContext ?? 'request';
    const first = Object.values(fields)[0] ?? 'the request is invalid';
    return {
      status: 400,
      body: { error: { code: 'validation_failed', message: `Invalid ${where}: ${first}`, fields } },
    };
  }
  const status = fastifyError.statusCode ?? 500;
  if (status === 413) {
    return {
      status,
      body: { error: { code: 'payload_too_large', message: 'The request body is too large.' } },
    };
  }
  if (status >= 400 && status < 500) {
    const code = status === 415 ? 'unsupported_media_type' : status === 404 ? 'not_found' : 'bad_request';
    return { status, body: { error: { code, message: fastifyError.message } } };
  }
  const { code, cause } = error as { code?: unknown; cause?: { code?: unknown } };
  const dbCode = code ?? cause?.code;
  // pg-pool's "timeout exceeded when trying to connect" (every connection busy) has no code.
  const poolTimeout = /timeout exceeded when trying to connect/i.test(String((error as Error).message));
  if ((typeof dbCode === 'string' && UNAVAILABLE.has(dbCode)) || poolTimeout) {
    request.log.warn({ err: error }, 'database unavailable');
    return {
      status: 503,
      body: {
        error: {
          code: 'database_unavailable',
          message: 'The database is busy or unreachable; try again shortly.',
        },
      },
      headers: { 'retry-after': '2' },
    };
  }
  request.log.error({ err: error }, 'request failed');
  return {
    status: 500,
    body: {
      error: {
        code: 'internal_error',
        message: `Something went wrong on our side; the error is logged with request id ${request.id}.`,
      },
    },
  };
}

export type HtmlErrorRenderer = (
  request: FastifyRequest,
  reply: FastifyReply,
  status: number,
  body: ErrorBody,
) => Promise<string> | string;

/** JSON for the API and for clients asking for JSON; an HTML page for browsers. */
export function wantsHtml(request: FastifyRequest): boolean {
  if (request.url.startsWith('/api/') || request.url.startsWith('/docs')) return false;
  const accept = request.headers.accept ?? '';
  return accept.includes('text/html') || !accept.includes('application/json');
}

export function registerErrorHandling(app: FastifyInstance, renderHtml: HtmlErrorRenderer): void {
  app.setErrorHandler(async (error, request, reply) => {
    const { status, body, headers } = toErrorResponse(error, request);
    if (headers) reply.headers(headers);
    reply.code(status);
    if (wantsHtml(request))
      return reply.type('text/html; charset=utf-8').send(await renderHtml(request, reply, status, body));
    return reply.send(body);
  });
  app.setNotFoundHandler(async (request, reply) => {
    const body: ErrorBody = {
      error: { code: 'not_found', message: `No page at ${request.url.split('?')[0]}.` },
    };
    reply.code(404);
    if (wantsHtml(request))
      return reply.type('text/html; charset=utf-8').send(await renderHtml(request, reply, 404, body));
    return reply.send(body);
  });
}
