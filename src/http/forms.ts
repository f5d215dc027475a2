import type { FastifyRequest } from 'fastify';
import { AppError } from '../errors.js';
import { fieldsFromValidation } from './errors.js';

export interface FormFailure {
  status: number;
  message: string;
  fields: Record<string, string>;
  headers?: Record<string, string>;
}

/**
 * For HTML form routes (declared with attachValidation): the schema's findings as a
 * failure to show beside the form, or null when the body is valid.
 */
export function validationFailure(request: FastifyRequest): FormFailure | null {
  const error = request.validationError as (Error & { validation?: [] }) | undefined;
  if (!error) return null;
  const fields = fieldsFromValidation(error.validation ?? []);
  return { status: 400, message: 'Please correct the highlighted fields.', fields };
}

/** An AppError as a failure to show beside the form; anything else is rethrown to the error handler. */
export function asFormFailure(error: unknown): FormFailure {
  if (error instanceof AppError && error.status < 500) {
    return {
      status: error.status,
      message: error.message,
      fields: error.fields ?? {},
      headers: error.headers,
    };
  }
  throw error;
}

/**
 * Only same-site paths are followed after sign-in. Browsers drop tabs and newlines and read a
 * backslash as "/", so "/\t/evil.example" would become "//evil.example": anything with control
 * characters, whitespace or a backslash is refused, and the rest must resolve to this origin.
 */
export function safeNext(next: unknown, fallback = '/'): string {
  if (typeof next !== 'string' || !next.startsWith('/') || /[\s\\\p{Cc}]/u.test(next)) return fallback;
  const base = 'http://inkstone.invalid';
  try {
    return new URL(next, base).origin === base ? next : fallback;
  } catch {
    return fallback;
  }
}
