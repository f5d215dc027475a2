import type { Command, Redis } from 'ioredis';
import { Histogram, type Registry } from 'prom-client';

// Commands that wait by design (a blocking pop, a stream read with BLOCK, a subscription):
// their time is the wait for data, not Redis's latency.
const WAITS = new Set([
  'blpop',
  'brpop',
  'brpoplpush',
  'blmove',
  'bzpopmin',
  'bzpopmax',
  'xread',
  'xreadgroup',
  'subscribe',
  'psubscribe',
  'ssubscribe',
  'wait',
]);

/**
 * Times every command sent on `redis` (the app's shared connection), by command name: a
 * bounded label, Redis has a fixed set of them. Returns the undo.
 */
export function timeRedisCommands(registry: Registry, redis: Redis): () => void {
  const duration = new Histogram({
    name: 'inkstone_redis_command_duration_seconds',
    help: 'Redis command round trips on the app’s shared connection, by command',
    labelNames: ['command'] as const,
    buckets: [0.0001, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.05, 0.1, 0.5, 1],
    registers: [registry],
  });
  const original = redis.sendCommand;
  const send = original.bind(redis);
  redis.sendCommand = (command: Command, stream?: Parameters<Redis['sendCommand']>[1]) => {
    const name = command.name.toLowerCase();
    if (WAITS.has(name)) return send(command, stream);
    const started = performance.now();
    const done = () => duration.observe({ command: name }, (performance.now() - started) / 1000);
    command.promise.then(done, done);
    return send(command, stream);
  };
  return () => {
    redis.sendCommand = original;
  };
}
