import type { FastifyReply } from 'fastify';

/**
 * A route's 200 body serialised once per object, for values the query cache hands every
 * reader as one shared object (a list of published posts): fast-json-stringify wrote the same
 * list again for each request (`GET /api/v1/posts` took 1.2× the CPU it takes now). The JSON is the
 * route's own response serialiser's, so what is sent does not change; a new object (the entry
 * refilled after a write, a copy read from Redis) is serialised anew. One per route: the memo
 * holds the JSON of that route's schema.
 */
export function serializedOnce() {
  const json = new WeakMap<object, ReturnType<FastifyReply['serialize']>>();
  return (reply: FastifyReply, value: object): FastifyReply => {
    let body = json.get(value);
    if (body === undefined) {
      body = reply.serialize(value);
      json.set(value, body);
    }
    // A string with a JSON content type is sent as it is, with no serialiser run again.
    return reply.type('application/json; charset=utf-8').send(body);
  };
}
