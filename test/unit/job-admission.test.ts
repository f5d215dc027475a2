import { describe, expect, it } from 'vitest';
import { AppError } from '../../src/errors.js';
import type { Actor } from '../../src/modules/access/permissions.js';
import { admitJob } from '../../src/modules/ai/job-admission.js';
import { MemoryUsageLimiter } from '../../src/modules/ai/limiter.js';

const actor: Actor = { id: 7, username: 'ann', displayName: 'Ann', role: 'author' };
const clock = { now: () => new Date('2026-11-25T12:00:00Z') };

function pipeline(overrides: { aiEnabled?: boolean; requestsPerMinute?: number } = {}) {
  const limiter = new MemoryUsageLimiter(
    { requestsPerMinute: overrides.requestsPerMinute ?? 10, tokensPerDay: 1000 },
    clock,
  );
  return { aiEnabled: overrides.aiEnabled ?? true, models: ['default', 'fast'], limiter };
}

async function refusal(promise: Promise<void>): Promise<AppError> {
  const error = await promise.then(
    () => undefined,
    (caught: unknown) => caught,
  );
  if (!(error instanceof AppError)) throw new Error(`expected an AppError, got ${String(error)}`);
  return error;
}

describe('admitJob: the pipeline’s checks, made when a job is queued', () => {
  it('lets a good job through and takes one request from the user’s allowance', async () => {
    const checks = pipeline({ requestsPerMinute: 2 });
    await admitJob({ kind: 'tags', text: 'Tea' }, actor, checks);
    await admitJob({ kind: 'tags', text: 'Tea', model: 'fast' }, actor, checks);
    const limited = await refusal(admitJob({ kind: 'tags', text: 'Tea' }, actor, checks));
    expect(limited).toMatchObject({ status: 429, code: 'rate_limited' });
    expect(limited.headers).toMatchObject({ 'retry-after': '30', 'ratelimit-remaining': '0' });
  });

  it('names the missing field and the unknown model, and takes nothing for them', async () => {
    const checks = pipeline({ requestsPerMinute: 1 });
    const missing = await refusal(admitJob({ kind: 'rewrite', text: ' ' }, actor, checks));
    expect(missing).toMatchObject({
      status: 400,
      fields: { text: 'text is required for this writing task' },
    });
    const model = await refusal(admitJob({ kind: 'tags', text: 'x', model: 'big' }, actor, checks));
    expect(model.fields).toEqual({ model: 'Unknown model "big"; use one of: default, fast.' });
    await admitJob({ kind: 'tags', text: 'x' }, actor, checks);
  });

  it('answers 503 when no model server is configured', async () => {
    const error = await refusal(admitJob({ kind: 'tags', text: 'x' }, actor, pipeline({ aiEnabled: false })));
    expect(error).toMatchObject({ status: 503, code: 'ai_not_configured' });
  });
});
