import { Validator } from '@seriousme/openapi-schema-validator';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestApp, type TestApp } from '../helpers/app.js';

interface Schema {
  type?: string;
  required?: string[];
  properties?: Record<string, Schema>;
}
interface Response {
  description: string;
  content?: { 'application/json'?: { schema: Schema }; 'text/event-stream'?: { schema: Schema } };
}
interface Operation {
  summary?: string;
  tags?: string[];
  parameters?: { in: string; name: string }[];
  requestBody?: { required?: boolean };
  security?: unknown[];
  responses: Record<string, Response>;
}
interface Spec {
  openapi: string;
  paths: Record<string, Record<string, Operation>>;
}

// The spec is built from the route schemas alone, so one database is enough.
describe('OpenAPI document', () => {
  let t: TestApp;
  let spec: Spec;
  let operations: [string, Operation][];
  beforeAll(async () => {
    t = await createTestApp('sqlite');
    const response = await t.app.inject({ method: 'GET', url: '/docs/json' });
    expect(response.statusCode).toBe(200);
    spec = response.json();
    operations = Object.entries(spec.paths).flatMap(([path, methods]) =>
      Object.entries(methods).map(([method, op]): [string, Operation] => [
        `${method.toUpperCase()} ${path}`,
        op,
      ]),
    );
  });
  afterAll(async () => t?.close());

  it('is a valid OpenAPI 3 document', async () => {
    const result = await new Validator().validate(spec as unknown as Record<string, unknown>);
    expect(result.errors ?? []).toEqual([]);
    expect(result.valid).toBe(true);
    expect(spec.openapi).toMatch(/^3\./);
  });

  it('documents the JSON API and the OpenAI-compatible door, and nothing else', () => {
    const paths = Object.keys(spec.paths);
    expect(paths.length).toBeGreaterThan(20);
    expect(paths.filter((path) => !path.startsWith('/api/v1/') && !path.startsWith('/v1/'))).toEqual([]);
    expect(paths).toContain('/v1/chat/completions');
    for (const expected of [
      'POST /api/v1/posts',
      'GET /api/v1/posts/{idOrSlug}',
      'PATCH /api/v1/posts/{id}',
      'GET /api/v1/search',
      'POST /api/v1/posts/{id}/comments',
      'PUT /api/v1/users/{id}/role',
      'PATCH /api/v1/settings',
    ]) {
      expect(operations.map(([name]) => name)).toContain(expected);
    }
  });

  it('gives every operation a summary, a tag and a success response with its schema', () => {
    for (const [name, op] of operations) {
      expect(op.summary, name).toBeTruthy();
      expect(op.tags?.length, name).toBeGreaterThan(0);
      const success = Object.keys(op.responses).filter((status) => ['200', '201', '204'].includes(status));
      expect(success, name).toHaveLength(1);
      const status = success[0]!;
      if (status === '204') {
        expect(op.responses[status]?.content, name).toBeUndefined();
      } else {
        // An event stream documents the shape of one event.
        const content = op.responses[status]?.content;
        const schema = (content?.['application/json'] ?? content?.['text/event-stream'])?.schema;
        expect(schema?.type, `${name} ${status}`).toBe('object');
        expect(Object.keys(schema?.properties ?? {}).length, `${name} ${status}`).toBeGreaterThan(0);
      }
    }
  });

  it('documents a 4xx in the error shape wherever an operation takes input', () => {
    for (const [name, op] of operations) {
      const clientErrors = Object.keys(op.responses).filter((status) => /^4\d\d$/.test(status));
      const takesInput = Boolean(op.requestBody) || (op.parameters?.length ?? 0) > 0;
      if (takesInput) expect(clientErrors.length, name).toBeGreaterThan(0);
      if (op.requestBody) expect(clientErrors, name).toContain('400');
      if (op.security) expect(clientErrors, name).toContain('401');
      // The OpenAI door answers errors in OpenAI's shape; everything else in Inkstone's.
      const shape = / \/v1\//.test(name) ? ['message', 'type', 'param', 'code'] : ['code', 'message'];
      for (const status of clientErrors) {
        const schema = op.responses[status]?.content?.['application/json']?.schema;
        expect(schema?.required, `${name} ${status}`).toEqual(['error']);
        expect(schema?.properties?.error?.required, `${name} ${status}`).toEqual(shape);
      }
    }
  });

  it('marks only bodies the server defaults as optional', () => {
    const byName = new Map(operations);
    expect(byName.get('POST /api/v1/posts/{id}/publish')?.requestBody?.required).toBe(false);
    expect(byName.get('POST /api/v1/posts')?.requestBody?.required).toBe(true);
    expect(JSON.stringify(spec)).not.toContain('x-body-optional');
  });

  it('serves the docs UI at /docs', async () => {
    const response = await t.app.inject({ method: 'GET', url: '/docs' });
    expect(response.statusCode).toBe(200);
    expect(response.headers['content-type']).toMatch(/^text\/html/);
    expect(response.body).toContain('Swagger UI');
  });
});
