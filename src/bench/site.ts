// What the tests ask of the Inkstone under test, through its public API: its posts, a post
// of the bench's own, whether the AI answers, and the editor's streaming draft request.
import { API, type Session } from './accounts.js';
import type { BenchRequest, HttpClient } from './http.js';

export interface PostRef {
  id: number;
  slug: string;
  url: string;
  author: { username: string };
  tags: { slug: string }[];
}

/** Paths of up to `count` published posts, newest first (GET /api/v1/posts). */
export async function publishedPosts(client: HttpClient, count = 50): Promise<PostRef[]> {
  const outcome = await client.request({
    path: `${API}/posts?perPage=${Math.min(50, count)}`,
    expect: [200],
  });
  if (!outcome.ok) return [];
  try {
    return (JSON.parse(outcome.body) as { items: PostRef[] }).items;
  } catch {
    return [];
  }
}

export const BENCH_TAG = 'inkstone-bench';

/** A post by the session's user; published unless told otherwise. Throws with the reason. */
export async function createPost(
  session: Session,
  fields: { title: string; body: string; tags?: string[]; status?: 'draft' | 'published' },
): Promise<PostRef> {
  const outcome = await session.request({
    method: 'POST',
    path: `${API}/posts`,
    json: { status: 'published', ...fields },
    expect: [201],
  });
  if (!outcome.ok)
    throw new Error(
      `POST ${API}/posts failed (${outcome.status || outcome.error}): ${outcome.body.slice(0, 200)}`,
    );
  return JSON.parse(outcome.body) as PostRef;
}

/** A body of a few paragraphs with a word of its own, so search has something to find. */
export function benchBody(word: string): string {
  return [
    `This post was written by inkstone bench to measure the site. Its marker word is ${word}.`,
    'A second paragraph gives the page some **Markdown** to render, with a [link](https://example.com) and a list:',
    '- one\n- two\n- three',
  ].join('\n\n');
}

/** Whether the AI can draft for this session: GET /api/v1/ai/status, or the reason it cannot. */
export async function aiStatus(session: Session): Promise<{ ok: boolean; note: string }> {
  const outcome = await session.request({ path: `${API}/ai/status`, expect: [200] });
  if (!outcome.ok)
    return { ok: false, note: `GET ${API}/ai/status answered ${outcome.status || outcome.error}` };
  const status = JSON.parse(outcome.body) as {
    enabled: boolean;
    providers?: { ok?: boolean; name?: string }[];
  };
  if (!status.enabled) return { ok: false, note: 'the AI is switched off on the server (AI_PROVIDER=none)' };
  if (status.providers?.length && !status.providers.some((p) => p.ok))
    return { ok: false, note: 'no AI provider of the server is reachable' };
  return { ok: true, note: '' };
}

/** The editor's draft request: Server-Sent Events, as the page streams them. */
export function aiDraftRequest(title: string, regenerate = false): BenchRequest {
  return {
    method: 'POST',
    path: `${API}/ai/write`,
    headers: { accept: 'text/event-stream' },
    json: { kind: 'draft', title, ...(regenerate ? { regenerate: true } : {}) },
    expect: [200],
    sse: true,
  };
}

/** A short random id for names made by this run (accounts, posts, marker words). */
export function runId(): string {
  return Math.random().toString(36).slice(2, 8).padEnd(6, '0');
}
