// Generation jobs at the model's capacity: POST /api/v1/ai/generations (202 {id}), each job
// followed on GET …/{id}/events to its `done`, then read back with GET …/{id}. Run once on
// the in-process queue and once through BullMQ (REDIS_URL), same timings, same slots.
import { readStream, type StreamResult } from './client.js';
import type { JobsOptions, ThroughputOptions } from './options.js';
import { generationMsOf } from './ipc.js';
import { type LoadAverage, loadAverage, round, summarize } from '../../src/bench/stats.js';
import type { Latency } from '../../src/bench/results.js';
import { failures, fakeStats, freshTitle, setFake, type World } from './world.js';

export type JobQueueKind = 'in-process' | 'bullmq';

export interface JobTiming {
  /** POST sent → its 202 read, ms. */
  submitMs: number;
  /** POST sent → the job's first token read on its event stream, ms. */
  firstTokenMs: number;
  /** POST sent → its `done` event read, ms. */
  completeMs: number;
  follow: StreamResult;
}

export interface JobsRun {
  queue: JobQueueKind;
  /** One job at a time: what the queue adds to a job when nothing waits. */
  sequential: { jobs: number; submit: Latency; firstToken: Latency; complete: Latency };
  /** All at once, from `submitters` clients: jobs per second once the queue is full. */
  burst: {
    jobs: number;
    submitters: number;
    submit: Latency;
    complete: Latency;
    /** First POST sent → last `done` read. */
    durationMs: number;
    perSecond: number;
    /** Read back afterwards with GET: status `completed`. */
    completed: number;
    modelCalls: number;
    modelMaxInFlight: number;
    modelMaxQueued: number;
  };
  /** slots ÷ one generation's length on the fake. */
  capacityPerSecond: number;
  /** burst jobs per second ÷ capacity. */
  ratio: number;
  errors: ReturnType<typeof failures> & { submit: string[] };
  loadAverage: LoadAverage;
}

export interface JobsResult {
  slots: number;
  inProcess: JobsRun;
  bullmq?: JobsRun;
  /** Why the BullMQ run did not happen (Redis unreachable). */
  bullmqSkipped?: string;
  /** BullMQ's jobs per second ÷ the in-process queue's; its one-at-a-time completion p50 minus theirs. */
  bullmqVsInProcess?: { perSecondRatio: number; sequentialCompleteP50Ms: number };
  pass: boolean;
}

interface Inkstone {
  url: string;
  token: string;
}

class SubmitError extends Error {}

async function submit(inkstone: Inkstone, title: string, model: string): Promise<string> {
  const response = await fetch(`${inkstone.url}/api/v1/ai/generations`, {
    method: 'POST',
    headers: { authorization: `Bearer ${inkstone.token}`, 'content-type': 'application/json' },
    body: JSON.stringify({ kind: 'draft', title, model }),
  });
  const text = await response.text();
  if (response.status !== 202) throw new SubmitError(`HTTP ${response.status}: ${text.slice(0, 300)}`);
  return (JSON.parse(text) as { id: string }).id;
}

/** Submits one job and follows its events to the end. Throws only when the submit fails. */
async function runJob(inkstone: Inkstone, model: string): Promise<JobTiming> {
  const title = freshTitle();
  const started = performance.now();
  const id = await submit(inkstone, title, model);
  const submitMs = performance.now() - started;
  const follow = await readStream(
    `${inkstone.url}/api/v1/ai/generations/${id}/events`,
    { headers: { authorization: `Bearer ${inkstone.token}` } },
    'inkstone',
    id,
  );
  return {
    submitMs,
    firstTokenMs: follow.firstTokenAt - started,
    completeMs: follow.endedAt - started,
    follow,
  };
}

async function statusOf(inkstone: Inkstone, id: string): Promise<string> {
  const response = await fetch(`${inkstone.url}/api/v1/ai/generations/${id}`, {
    headers: { authorization: `Bearer ${inkstone.token}` },
  });
  return response.ok ? ((await response.json()) as { status: string }).status : `HTTP ${response.status}`;
}

export async function measureJobs(
  world: Pick<World, 'fake' | 'log'>,
  inkstone: Inkstone,
  queue: JobQueueKind,
  options: JobsOptions,
  throughput: ThroughputOptions,
  /** The alias whose provider has exactly the model's slots. */
  model: string,
): Promise<JobsRun> {
  const { slots, timings } = throughput;
  await setFake(world, { ...timings, parallel: slots });
  const submitErrors: string[] = [];
  const attempt = (): Promise<JobTiming | undefined> =>
    runJob(inkstone, model).catch((error: unknown) => {
      if (!(error instanceof SubmitError)) throw error;
      submitErrors.push(error.message);
      return undefined;
    });

  // Connections opened and code compiled before anything counts.
  await attempt();
  const sequential: JobTiming[] = [];
  for (let i = 0; i < options.sequential; i++) {
    const job = await attempt();
    if (job) sequential.push(job);
  }

  await world.fake.call({ type: 'reset' });
  const burst: JobTiming[] = [];
  const started = performance.now();
  let next = 0;
  const following: Promise<void>[] = [];
  // Each submitter sends its next job once the last one's 202 came; the jobs' event streams
  // are followed meanwhile, one connection each.
  const submitter = async () => {
    while (next++ < options.burst) {
      const title = freshTitle();
      const sent = performance.now();
      let id: string;
      try {
        id = await submit(inkstone, title, model);
      } catch (error) {
        submitErrors.push((error as Error).message);
        continue;
      }
      const submitMs = performance.now() - sent;
      following.push(
        readStream(
          `${inkstone.url}/api/v1/ai/generations/${id}/events`,
          { headers: { authorization: `Bearer ${inkstone.token}` } },
          'inkstone',
          id,
        ).then((follow) => {
          burst.push({
            submitMs,
            firstTokenMs: follow.firstTokenAt - sent,
            completeMs: follow.endedAt - sent,
            follow,
          });
        }),
      );
    }
  };
  await Promise.all(Array.from({ length: options.submitters }, submitter));
  await Promise.all(following);
  const done = burst.filter((x) => x.follow.ok);
  const durationMs = done.length ? Math.max(...done.map((x) => x.follow.endedAt)) - started : NaN;
  const stats = await fakeStats(world);
  const statuses = await Promise.all(burst.map((x) => statusOf(inkstone, x.follow.title)));
  const perSecond = done.length ? round(done.length / (durationMs / 1000), 2) : 0;
  const capacityPerSecond = round(slots / (generationMsOf(timings) / 1000), 2);
  const pick = (jobs: JobTiming[], key: 'submitMs' | 'firstTokenMs' | 'completeMs') =>
    summarize(jobs.filter((x) => x.follow.ok).map((x) => x[key]));
  const run: JobsRun = {
    queue,
    sequential: {
      jobs: sequential.length,
      submit: pick(sequential, 'submitMs'),
      firstToken: pick(sequential, 'firstTokenMs'),
      complete: pick(sequential, 'completeMs'),
    },
    burst: {
      jobs: options.burst,
      submitters: options.submitters,
      submit: pick(burst, 'submitMs'),
      complete: pick(burst, 'completeMs'),
      durationMs: round(durationMs, 1),
      perSecond,
      completed: statuses.filter((x) => x === 'completed').length,
      modelCalls: stats.chatRequests,
      modelMaxInFlight: stats.maxInFlight,
      modelMaxQueued: stats.maxQueued,
    },
    capacityPerSecond,
    ratio: round(perSecond / capacityPerSecond, 3),
    errors: { ...failures([...sequential, ...burst].map((x) => x.follow)), submit: submitErrors.slice(0, 3) },
    loadAverage: loadAverage(),
  };
  world.log(
    `  jobs (${queue}): one at a time, complete p50 ${run.sequential.complete.p50} ms; ${options.burst} at once, ${perSecond} jobs/s (capacity ${capacityPerSecond}/s), submit p50 ${run.burst.submit.p50} p99 ${run.burst.submit.p99} ms`,
  );
  return run;
}

/** Both runs (or the in-process one and why BullMQ's did not happen), compared. */
export function compareJobs(
  slots: number,
  inProcess: JobsRun,
  bullmq: JobsRun | { skipped: string },
): JobsResult {
  const clean = (run: JobsRun) =>
    run.errors.count === 0 &&
    run.errors.submit.length === 0 &&
    run.burst.completed === run.burst.jobs &&
    run.sequential.jobs > 0;
  if ('skipped' in bullmq) return { slots, inProcess, bullmqSkipped: bullmq.skipped, pass: clean(inProcess) };
  return {
    slots,
    inProcess,
    bullmq,
    bullmqVsInProcess: {
      perSecondRatio: round(bullmq.burst.perSecond / inProcess.burst.perSecond, 3),
      sequentialCompleteP50Ms: round(bullmq.sequential.complete.p50 - inProcess.sequential.complete.p50),
    },
    pass: clean(inProcess) && clean(bullmq),
  };
}
