import type { FastifyReply, FastifyRequest } from 'fastify';
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

/** Where a successful form goes next, and what it tells the user there. */
export interface Done {
  flash: string;
  to: string;
}

/**
 * The flow every HTML form shares: a body the schema refused, or a call the service
 * refused (any AppError below 500), shows the form again with the reason; success leaves
 * a flash message and redirects (303, so a reload does not post twice).
 */
export async function submitForm<T>(
  request: FastifyRequest,
  reply: FastifyReply,
  form: {
    run: () => Promise<T>;
    done: (result: T) => Done | Promise<Done>;
    fail: (failure: FormFailure) => Promise<FastifyReply>;
  },
): Promise<FastifyReply> {
  const invalid = validationFailure(request);
  if (invalid) return form.fail(invalid);
  let result: T;
  try {
    result = await form.run();
  } catch (error) {
    return form.fail(asFormFailure(error));
  }
  const { flash, to } = await form.done(result);
  reply.flash('success', flash);
  return reply.redirect(to, 303);
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
