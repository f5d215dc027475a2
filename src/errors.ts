/**
 * Typed errors: each carries a stable code, an HTTP status and a message a user can read.
 * The one error handler (registerErrorHandling in src/http/errors.ts) maps them to responses.
 */
export class AppError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
    readonly fields?: Record<string, string>,
    readonly headers?: Record<string, string>,
  ) {
    super(message);
    this.name = 'AppError';
  }
}

export const fieldError = (field: string, message: string) =>
  new AppError(400, 'validation_failed', message, { [field]: message });

export const unauthorized = (message = 'Sign in to do that.') => new AppError(401, 'unauthorized', message);

export const forbidden = (message = 'You do not have permission to do that.') =>
  new AppError(403, 'forbidden', message);

export const notFound = (what = 'Page') => new AppError(404, 'not_found', `${what} not found.`);

export const conflict = (message: string, fields?: Record<string, string>) =>
  new AppError(409, 'conflict', message, fields);

export const tooManyRequests = (retryAfterSeconds: number, message = 'Too many attempts; try again later.') =>
  new AppError(429, 'rate_limited', message, undefined, { 'retry-after': String(retryAfterSeconds) });
