import { ROOT_CONTEXT, trace } from '@opentelemetry/api';
import { describe, expect, it } from 'vitest';
import { traceContexts } from '../../src/tracing/context.js';
import {
  asOutgoingCall,
  callerContext,
  outgoingTraceparent,
  untracedRequestContext,
} from '../../src/tracing/propagation.js';
import { formatTraceparent, newSpanId, newTraceId, parseTraceparent } from '../../src/tracing/traceparent.js';

const TRACE = '4bf92f3577b34da6a3ce929d0e0e4736';
const SPAN = '00f067aa0ba902b7';
const HEADER = /^00-([0-9a-f]{32})-([0-9a-f]{16})-([0-9a-f]{2})$/;

describe('traceparent', () => {
  it('reads a version-00 header', () => {
    expect(parseTraceparent(`00-${TRACE}-${SPAN}-01`)).toEqual({ traceId: TRACE, spanId: SPAN, flags: 1 });
    expect(parseTraceparent(`00-${TRACE}-${SPAN}-00`)?.flags).toBe(0);
  });

  it('refuses what the spec calls invalid', () => {
    for (const bad of [
      undefined,
      '',
      [`00-${TRACE}-${SPAN}-01`, `00-${TRACE}-${SPAN}-01`],
      `ff-${TRACE}-${SPAN}-01`,
      `00-${'0'.repeat(32)}-${SPAN}-01`,
      `00-${TRACE}-${'0'.repeat(16)}-01`,
      `00-${TRACE.toUpperCase()}-${SPAN}-01`,
      `00-${TRACE.slice(1)}-${SPAN}-01`,
      `00-${TRACE}-${SPAN}-1`,
      `00-${TRACE}-${SPAN}-01-more`,
    ]) {
      expect(parseTraceparent(bad), String(bad)).toBeUndefined();
    }
  });

  it('reads a later version by its first four fields, ignoring what it appends', () => {
    expect(parseTraceparent(`01-${TRACE}-${SPAN}-01-what-comes-next`)).toEqual({
      traceId: TRACE,
      spanId: SPAN,
      flags: 1,
    });
  });

  it('writes version 00 with two-digit flags', () => {
    expect(formatTraceparent(TRACE, SPAN, 1)).toBe(`00-${TRACE}-${SPAN}-01`);
    expect(formatTraceparent(TRACE, SPAN, 0)).toBe(`00-${TRACE}-${SPAN}-00`);
  });

  it('makes ids of the right length, different each time', () => {
    const traces = new Set(Array.from({ length: 500 }, newTraceId));
    const spans = new Set(Array.from({ length: 500 }, newSpanId));
    expect(traces.size).toBe(500);
    expect(spans.size).toBe(500);
    for (const id of traces) expect(id).toMatch(/^[0-9a-f]{32}$/);
    for (const id of spans) expect(id).toMatch(/^[0-9a-f]{16}$/);
  });
});

describe('outgoing traceparent', () => {
  it("continues the caller's trace with a new span id for each call", () => {
    const context = callerContext(`00-${TRACE}-${SPAN}-01`);
    const [first, second] = [outgoingTraceparent(context), outgoingTraceparent(context)];
    const [, traceId, spanId, flags] = HEADER.exec(first) ?? [];
    expect(traceId).toBe(TRACE);
    expect(spanId).not.toBe(SPAN);
    expect(flags).toBe('01');
    expect(HEADER.exec(second)![2]).not.toBe(spanId);
  });

  it('reads the active context, carried across awaits', async () => {
    const header = await traceContexts.with(callerContext(`00-${TRACE}-${SPAN}-00`), async () => {
      await new Promise((resolve) => setTimeout(resolve, 1));
      return outgoingTraceparent();
    });
    expect(HEADER.exec(header)?.[1]).toBe(TRACE);
    expect(HEADER.exec(header)?.[3]).toBe('00');
    // Outside it, a trace of its own, not sampled.
    const outside = HEADER.exec(outgoingTraceparent());
    expect(outside?.[1]).not.toBe(TRACE);
    expect(outside?.[3]).toBe('00');
  });

  it("sends an outgoing call's own span as the parent", () => {
    const span = trace.wrapSpanContext({ traceId: TRACE, spanId: SPAN, traceFlags: 1 });
    expect(outgoingTraceparent(asOutgoingCall(ROOT_CONTEXT, span))).toBe(`00-${TRACE}-${SPAN}-01`);
  });

  it('gives a request without a caller one trace for all its calls', () => {
    const context = untracedRequestContext(undefined);
    const ids = [outgoingTraceparent(context), outgoingTraceparent(context)].map((h) => HEADER.exec(h)![1]);
    expect(ids[0]).toBe(ids[1]);
    expect(HEADER.exec(outgoingTraceparent(untracedRequestContext(undefined)))![1]).not.toBe(ids[0]);
    expect(callerContext(undefined)).toBe(ROOT_CONTEXT);
  });
});
