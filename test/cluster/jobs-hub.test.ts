import { describe, expect, it } from 'vitest';
import {
  clusterJobPeers,
  type HubWorker,
  type JobPort,
  JobsHub,
  type LocalJobs,
} from '../../src/cluster-jobs.js';
import { Broadcast } from '../../src/modules/ai/broadcast.js';

// The primary's register of jobs and its relays (src/cluster-jobs.ts), with two workers wired
// to a hub through fake IPC ports that deliver asynchronously, in order, as the real one does.

function wire() {
  const hub = new JobsHub();
  const worker = () => {
    const listeners: ((message: unknown) => void)[] = [];
    const end: HubWorker = {
      send: (message) => queueMicrotask(() => listeners.forEach((l) => l(structuredClone(message)))),
    };
    const port: JobPort = {
      send: (message) => queueMicrotask(() => hub.receive(end, structuredClone(message))),
      on: (listener) => listeners.push(listener),
    };
    return { peers: clusterJobPeers(port)!, end };
  };
  return { hub, a: worker(), b: worker() };
}

function local(jobs: Map<string, Broadcast>, cancelled: string[], aborted: string[] = []): LocalJobs {
  return {
    async cancel(id) {
      cancelled.push(id);
      jobs
        .get(id)
        ?.push({ type: 'error', code: 'cancelled', message: 'cancelled', status: 499, partial: true });
    },
    log: (id) => jobs.get(id)?.log,
    follow(id, lastEventId, signal) {
      signal.addEventListener('abort', () => aborted.push(id));
      return jobs.get(id)?.subscribe(signal, lastEventId, { passive: true });
    },
  };
}

const tick = () => new Promise((resolve) => setTimeout(resolve, 5));

describe('JobsHub: AI jobs across cluster workers', () => {
  it('knows which jobs a live worker runs, until it releases them or dies', async () => {
    const { hub, a, b } = wire();
    expect(await b.peers.whereIs('j1')).toBe('gone');
    await a.peers.claim('j1');
    await a.peers.claim('j2');
    expect(await b.peers.whereIs('j1')).toBe('running');
    a.peers.release('j1');
    expect(await b.peers.whereIs('j1')).toBe('gone');
    expect(await b.peers.whereIs('j2')).toBe('running');
    hub.lost(a.end);
    expect(await b.peers.whereIs('j2')).toBe('gone');
  });

  it('relays a cancel and a look at the answer so far to the owner', async () => {
    const { a, b } = wire();
    const broadcast = new Broadcast();
    broadcast.push({ type: 'token', text: 'Hello' });
    const cancelled: string[] = [];
    a.peers.serve(local(new Map([['j1', broadcast]]), cancelled));
    b.peers.serve(local(new Map(), []));
    await a.peers.claim('j1');
    expect((await b.peers.log('j1'))?.map((e) => e.type)).toEqual(['token']);
    expect(await b.peers.log('nobody')).toBeUndefined();
    expect(await b.peers.cancel('j1')).toBe(true);
    expect(cancelled).toEqual(['j1']);
    expect(await b.peers.cancel('nobody')).toBe(false);
  });

  it("streams the owner's events after Last-Event-ID, live, to the end", async () => {
    const { a, b } = wire();
    const broadcast = new Broadcast();
    a.peers.serve(local(new Map([['j1', broadcast]]), []));
    await a.peers.claim('j1');
    broadcast.push({ type: 'token', text: 'one' });
    broadcast.push({ type: 'token', text: 'two' });
    const follow = await b.peers.follow('j1', 0);
    expect(follow).toBeDefined();
    const seen: string[] = [];
    const reading = (async () => {
      for await (const event of follow!(new AbortController().signal)) {
        seen.push(event.type === 'token' ? `${event.id}:${event.text}` : `${event.id}:${event.type}`);
      }
    })();
    await tick();
    broadcast.push({ type: 'token', text: 'three' });
    broadcast.push({
      type: 'done',
      model: 'm',
      provider: 'p',
      alias: 'a',
      usage: { promptTokens: 1, completionTokens: 3 },
      finishReason: 'stop',
      cached: false,
      ttftMs: 1,
      durationMs: 2,
    });
    await reading;
    expect(seen).toEqual(['1:two', '2:three', '3:done']);
    expect(await b.peers.follow('nobody', -1)).toBeUndefined();

    // Ended and released: no longer running, but its events are followed a while longer.
    a.peers.release('j1');
    expect(await b.peers.whereIs('j1')).toBe('gone');
    const replay = (await b.peers.follow('j1', 2))!(new AbortController().signal);
    const rest = [];
    for await (const event of replay) rest.push(event.type);
    expect(rest).toEqual(['done']);
  });

  it('ends a relayed stream with an interrupted error when the owner dies, and stops the owner when the follower leaves', async () => {
    const { hub, a, b } = wire();
    const broadcast = new Broadcast();
    const aborted: string[] = [];
    a.peers.serve(local(new Map([['j1', broadcast]]), [], aborted));
    await a.peers.claim('j1');
    broadcast.push({ type: 'token', text: 'one' });

    const leaving = new AbortController();
    const first = (await b.peers.follow('j1', -1))!(leaving.signal)[Symbol.asyncIterator]();
    expect((await first.next()).value).toMatchObject({ type: 'token', text: 'one' });
    leaving.abort();
    expect((await first.next()).done).toBe(true);
    await tick();
    expect(aborted).toEqual(['j1']);

    const events = (await b.peers.follow('j1', -1))!(new AbortController().signal);
    const reading = (async () => {
      const seen = [];
      for await (const event of events) seen.push(event);
      return seen;
    })();
    await tick();
    hub.lost(a.end);
    const seen = await reading;
    expect(seen.map((e) => e.type)).toEqual(['token', 'error']);
    expect(seen[1]).toMatchObject({ id: 1, code: 'interrupted' });
  });
});
