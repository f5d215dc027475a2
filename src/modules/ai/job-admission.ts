import { AppError, fieldError } from '../../errors.js';
import type { Actor } from '../access/permissions.js';
import type { JobInput } from './jobs.js';
import type { UsageLimiter } from './limiter.js';
import { buildPrompt, MissingInput } from './prompts.js';

/**
 * The checks AiService.generate makes before a model call, made when a job is queued so that
 * a bad job is a 400, a user over the limit a 429 and a site with no model a 503 at once,
 * not a job that fails later on a worker. The limit taken here is the one the worker's run
 * then skips (`limitTaken`); the messages are the pipeline's own.
 */
export async function admitJob(
  input: JobInput,
  actor: Actor,
  pipeline: { aiEnabled: boolean; models: string[]; limiter: UsageLimiter },
): Promise<void> {
  if (!pipeline.aiEnabled) {
    throw new AppError(503, 'ai_not_configured', 'No model server is configured: set AI_PROVIDER.');
  }
  try {
    buildPrompt(input.kind, input);
  } catch (error) {
    if (error instanceof MissingInput) throw fieldError(error.field, error.message);
    throw error;
  }
  const { models } = pipeline;
  if (input.model !== undefined && !models.includes(input.model)) {
    throw fieldError('model', `Unknown model "${input.model}"; use one of: ${models.join(', ')}.`);
  }
  const decision = await pipeline.limiter.take(`user:${actor.id}`);
  if (!decision.allowed) {
    throw new AppError(429, 'rate_limited', decision.reason ?? 'Too many AI requests.', undefined, {
      ...decision.headers,
      'retry-after': String(decision.retryAfterSeconds),
    });
  }
}
