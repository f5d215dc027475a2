import swagger from '@fastify/swagger';
import swaggerUi from '@fastify/swagger-ui';
import type { FastifyInstance } from 'fastify';

/** OpenAPI 3 from the routes' own schemas: JSON at /docs/json, the UI at /docs. */
export async function registerDocs(app: FastifyInstance): Promise<void> {
  await app.register(swagger, {
    openapi: {
      // 3.1: the schemas are JSON Schema 2020-12 (TypeBox's `const`, lists of types), which 3.0 is not.
      openapi: '3.1.0',
      info: {
        title: 'Inkstone API',
        version: '1.0.0',
        description:
          'Every error has the shape { error: { code, message, fields? } }. Authenticate with a session cookie ' +
          '(send x-csrf-token on writes) or with `Authorization: Bearer <token>` from /api/v1/tokens.',
      },
      servers: [{ url: app.config.publicUrl }],
      components: {
        securitySchemes: {
          bearer: { type: 'http', scheme: 'bearer', description: 'A personal API token (isk_…)' },
          session: { type: 'apiKey', in: 'cookie', name: 'inkstone_session' },
        },
      },
      tags: [
        { name: 'auth', description: 'Sign-up, sign-in, tokens' },
        { name: 'users', description: 'Profiles and, for admins, roles' },
        { name: 'posts', description: 'Posts, drafts, publishing, search' },
        { name: 'tags', description: 'Tags' },
        { name: 'ai', description: 'AI writing: streamed drafts and edits from the configured models' },
        { name: 'openai', description: 'OpenAI-compatible: point an OpenAI SDK at /v1 with an API token' },
        { name: 'comments', description: 'Comments and moderation' },
        { name: 'settings', description: 'Site settings (admin)' },
      ],
    },
    // @fastify/swagger marks every body as required. A route whose handler defaults a missing
    // body (POST /posts/:id/publish) says so with `x-body-optional` in its schema.
    transformObject: (documentObject) => {
      const spec =
        'openapiObject' in documentObject ? documentObject.openapiObject : documentObject.swaggerObject;
      for (const path of Object.values(spec.paths ?? {})) {
        for (const operation of Object.values(path ?? {}) as Record<string, unknown>[]) {
          if (!operation || typeof operation !== 'object' || !('x-body-optional' in operation)) continue;
          delete operation['x-body-optional'];
          const body = operation.requestBody as { required?: boolean } | undefined;
          if (body) body.required = false;
        }
      }
      return spec;
    },
  });
  await app.register(swaggerUi, { routePrefix: '/docs' });
}
