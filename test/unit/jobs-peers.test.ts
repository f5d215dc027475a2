import { describe, expect, it } from 'vitest';
import type { JobPeers, Whereabouts } from '../../src/cluster-jobs.js';
import type { Actor } from '../../src/modules/access/permissions.js';
import type { JobRecord, JobsRepository } from '../../src/modules/ai/jobs-repository.js';
import { JobsService, type WebhookPort } from '../../src/modules/ai/jobs.js';
import type { AiService } from '../../src/modules/ai/service.js';

// When a job that is not running in this process is failed as interrupted: a single process
// (the job's process restarted) at once; a cluster worker only when the primary says no live
// worker has it.

const author = { id: 7, role: 'author', username: 'a', displayName: 'A' } as unknown as Actor;

function service(peers?: Partial<JobPeers>, finishedMeanwhile = false) {
  const row: JobRecord = {
    id: 'j1',
    generation_id: 'g1',
    user_id: 7,
    kind: 'titles',
    status: 'running',
    request: '{}',
    request_hash: 'h',
    idempotency_key: null,
    callback_url: null,
    webhook_status: null,
    error: null,
    created_at: '2026-01-01T00:00:00.000Z',
    updated_at: '2026-01-01T00:00:00.000Z',
    generation: undefined,
  };
  const end = (status: JobRecord['status'], error: string | null) => {
    if (row.status !== 'running') return false;
    Object.assign(row, { status, error });
    return true;
  };
  const repo = {
    get: async () => ({ ...row }),
    setStatus: async (_id: string, status: JobRecord['status'], _at: string, error: string | null) => {
      Object.assign(row, { status, error });
    },
    finish: async (_id: string, status: JobRecord['status'], _at: string, error: string | null) =>
      end(status, error),
    deliveries: async () => [],
  } as unknown as JobsRepository;
  const ai = { find: () => undefined, cancel: () => false } as unknown as AiService;
  const full: JobPeers | undefined = peers && {
    claim: async () => {},
    release: () => {},
    whereIs: async () => 'running',
    cancel: async () => false,
    log: async () => undefined,
    follow: async () => undefined,
    serve: () => {},
    ...peers,
    ...(finishedMeanwhile && {
      // Its worker wrote the end and released it between our read and the question.
      whereIs: async (): Promise<Whereabouts> => {
        end('completed', null);
        return 'gone';
      },
    }),
  };
  const jobs = new JobsService({
    ai,
    repo,
    webhooks: {} as WebhookPort,
    webhookSecret: () => 'secret',
    clock: { now: () => new Date('2026-01-01T00:00:01Z') },
    peers: full,
  });
  return jobs;
}

describe('JobsService: a job not running in this process', () => {
  it('is interrupted at once in a single process (its process restarted)', async () => {
    const job = await service().get('j1', author);
    expect(job).toMatchObject({
      status: 'failed',
      error: 'interrupted: the server restarted before the job finished',
    });
  });

  it('stays running in a cluster while a live worker has it, or while the primary does not answer', async () => {
    expect((await service({ whereIs: async () => 'running' }).get('j1', author)).status).toBe('running');
    expect((await service({ whereIs: async () => 'unknown' }).get('j1', author)).status).toBe('running');
  });

  it('is interrupted in a cluster once no live worker has it', async () => {
    const job = await service({ whereIs: async () => 'gone' }).get('j1', author);
    expect(job).toMatchObject({ status: 'failed' });
    expect(job.error).toMatch(/^interrupted: the worker running the job stopped/);
  });

  it('keeps the end its worker wrote just before releasing it', async () => {
    const job = await service({}, true).get('j1', author);
    expect(job).toMatchObject({ status: 'completed', error: null });
  });

  it('is cancelled through the worker that runs it', async () => {
    const asked: string[] = [];
    const jobs = service({
      cancel: async (id) => {
        asked.push(id);
        return true;
      },
    });
    await jobs.cancel('j1', author);
    expect(asked).toEqual(['j1']);
  });
});

describe('JobsService: submitting while the cluster primary does not answer', () => {
  it('is a 503 with Retry-After, and the generation it started is cancelled', async () => {
    const cancelled: string[] = [];
    const ai = {
      write: async () => ({ id: 'g9' }),
      cancel: (id: string) => cancelled.push(id) > 0,
    } as unknown as AiService;
    const jobs = new JobsService({
      ai,
      repo: {} as JobsRepository,
      webhooks: { check: () => null } as unknown as WebhookPort,
      webhookSecret: () => 'secret',
      clock: { now: () => new Date('2026-01-01T00:00:01Z') },
      peers: {
        claim: async () => {
          throw new Error('no answer from the primary within 2000 ms');
        },
        serve: () => {},
      } as unknown as JobPeers,
    });
    const submitted = jobs.submit({ kind: 'titles', text: 'Tea' } as never, author);
    await expect(submitted).rejects.toMatchObject({
      status: 503,
      code: 'cluster_unavailable',
      headers: { 'retry-after': '2' },
    });
    expect(cancelled).toEqual(['g9']);
  });
});
