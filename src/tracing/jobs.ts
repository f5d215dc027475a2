import { type Context, trace } from '@opentelemetry/api';
import { traceContexts } from './context.js';
import { callerContext, untracedRequestContext } from './propagation.js';
import type { JobSpanInfo, JobSpanOutcome, Tracing } from './tracing.js';

/**
 * Runs one queued job in the trace of the request that queued it (`traceparent`, from the
 * job's data): the model call and the webhook made by the run carry that trace id. With
 * export, under a span of its own for the run, the child of the request's span; a job queued
 * with no traceparent (before this was stored, or outside any request) starts a trace.
 */
export async function inJobTrace<T extends { kind: Exclude<JobSpanOutcome, 'error'> }>(
  tracing: Pick<Tracing, 'startJob' | 'endJob'> | undefined,
  traceparent: string | undefined,
  job: JobSpanInfo,
  run: (context: Context) => Promise<T>,
): Promise<T> {
  // Without export, the context is passed to `run` and nothing enters AsyncLocalStorage (see
  // the tracing plugin); with it, the run's queries find their parent span there too.
  if (!tracing) return run(untracedRequestContext(traceparent));
  const caller = callerContext(traceparent);
  const span = tracing.startJob(caller, job);
  const context = trace.setSpan(caller, span);
  let outcome: T;
  try {
    outcome = await traceContexts.with(context, () => run(context));
  } catch (error) {
    tracing.endJob(span, 'error', error);
    throw error;
  }
  tracing.endJob(span, outcome.kind);
  return outcome;
}
