import type { Cluster } from 'node:cluster';
import {
  AggregatorRegistry,
  type MetricObjectWithValues,
  type MetricValue,
  type Registry,
} from 'prom-client';

// Not prom-client's own clusterMetrics(): it asks every forked worker, including one still
// booting that has no listener yet, and then fails the whole scrape after 5 s. Here a worker
// that does not answer in time is left out of that scrape, and the rest still come back.
const REQUEST = 'inkstone:metrics:request';
const RESPONSE = 'inkstone:metrics:response';
const WORKER_TIMEOUT_MS = 2000;

type MetricsJson = MetricObjectWithValues<MetricValue<string>>[];

interface Request {
  type: typeof REQUEST;
  id: number;
}
interface Response {
  type: typeof RESPONSE;
  id: number;
  metrics?: MetricsJson;
}

/** In a worker: answers the primary's scrapes with this registry. Returns the unsubscribe. */
export function answerClusterScrapes(registry: Registry): () => void {
  const listener = (message: unknown) => {
    if ((message as Request | null)?.type !== REQUEST || !process.send) return;
    const { id } = message as Request;
    void registry
      .getMetricsAsJSON()
      .then((metrics) => process.send?.({ type: RESPONSE, id, metrics } satisfies Response))
      .catch(() => process.send?.({ type: RESPONSE, id } satisfies Response));
  };
  process.on('message', listener);
  return () => void process.off('message', listener);
}

/** In the primary: one scrape of every worker, summed (or as each metric's aggregator says). */
export function clusterScraper(cluster: Cluster) {
  let next = 0;
  const pending = new Map<number, (metrics: MetricsJson | undefined) => void>();
  cluster.on('message', (_worker, message: Response) => {
    if (message?.type === RESPONSE) pending.get(message.id)?.(message.metrics);
  });
  return {
    contentType: AggregatorRegistry.PROMETHEUS_CONTENT_TYPE,
    async scrape(): Promise<string> {
      const workers = Object.values(cluster.workers ?? {}).filter((worker) => worker?.isConnected());
      const answers = await Promise.all(
        workers.map(
          (worker) =>
            new Promise<MetricsJson | undefined>((resolve) => {
              const id = next++;
              const timer = setTimeout(() => finish(undefined), WORKER_TIMEOUT_MS);
              const finish = (metrics: MetricsJson | undefined) => {
                clearTimeout(timer);
                pending.delete(id);
                resolve(metrics);
              };
              pending.set(id, finish);
              worker!.send({ type: REQUEST, id } satisfies Request);
            }),
        ),
      );
      const got = answers.filter((metrics): metrics is MetricsJson => metrics !== undefined);
      return AggregatorRegistry.aggregate(got).metrics();
    },
  };
}
