import type { FastifyInstance } from 'fastify';
import { fieldError } from '../errors.js';

/** The dotted path of the first string holding a NUL character, or null. */
function findNul(value: unknown, path: string): string | null {
  if (typeof value === 'string') return value.includes('\u0000') ? path : null;
  if (value && typeof value === 'object') {
    for (const [key, inner] of Object.entries(value)) {
      const found = findNul(inner, path ? `${path}.${key}` : key);
      if (found) return found;
    }
  }
  return null;
}

/**
 * PostgreSQL refuses NUL in text (SQLite stores it), so without this check the same input
 * is a 400 on one database and a 500 on the other. No field has a use for it.
 */
export function registerInputGuard(app: FastifyInstance): void {
  app.addHook('preValidation', async (request) => {
    const field = findNul(request.params, '') ?? findNul(request.query, '') ?? findNul(request.body, '');
    if (field) throw fieldError(field || 'body', `${field || 'body'} must not contain NUL characters`);
  });
}
