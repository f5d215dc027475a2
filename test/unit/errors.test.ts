import type { FastifyRequest } from 'fastify';
import { describe, expect, it, vi } from 'vitest';
import { AppError } from '../../src/errors.js';
import { fieldsFromValidation, toErrorResponse } from '../../src/http/errors.js';

function fakeRequest() {
  const log = { error: vi.fn(), warn: vi.fn() };
  return { request: { id: 'req-1', log } as unknown as FastifyRequest, log };
}

describe('the error mapping', () => {
  it('keeps an AppError’s status, code, fields and headers', () => {
    const { request } = fakeRequest();
    const mapped = toErrorResponse(
      new AppError(429, 'rate_limited', 'slow', undefined, { 'retry-after': '9' }),
      request,
    );
    expect(mapped).toEqual({
      status: 429,
      body: { error: { code: 'rate_limited', message: 'slow' } },
      headers: { 'retry-after': '9' },
    });
  });

  it('turns a busy or unreachable database into 503 with Retry-After, not a 500', () => {
    for (const code of ['SQLITE_BUSY', 'ECONNREFUSED', '53300']) {
      const { request, log } = fakeRequest();
      const mapped = toErrorResponse(Object.assign(new Error('locked'), { code }), request);
      expect(mapped.status).toBe(503);
      expect(mapped.body.error.code).toBe('database_unavailable');
      expect(mapped.headers?.['retry-after']).toBe('2');
      expect(log.error).not.toHaveBeenCalled();
    }
  });

  it('hides the cause of a 500 from the client and logs it with the request id', () => {
    const { request, log } = fakeRequest();
    const mapped = toErrorResponse(new Error('secret stack detail'), request);
    expect(mapped.status).toBe(500);
    expect(JSON.stringify(mapped.body)).not.toContain('secret');
    expect(mapped.body.error.message).toContain('req-1');
    expect(log.error).toHaveBeenCalledOnce();
  });

  it('names fields from schema findings, including missing ones', () => {
    expect(
      fieldsFromValidation([
        { instancePath: '/title', message: 'must NOT have more than 200 characters' },
        { instancePath: '', params: { missingProperty: 'version' } },
        { instancePath: '/tags/0', message: 'must be string' },
      ]),
    ).toEqual({
      title: 'title must NOT have more than 200 characters',
      version: 'version is required',
      'tags.0': 'tags.0 must be string',
    });
  });

  it('lists the allowed values of an enum', () => {
    expect(
      fieldsFromValidation([
        {
          instancePath: '/status',
          message: 'must be equal to one of the allowed values',
          params: { allowedValues: ['draft', 'published'] },
        },
      ]),
    ).toEqual({ status: 'status must be one of draft, published' });
  });
});
