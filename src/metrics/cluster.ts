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
// A worker asking the primary for the whole cluster's scrape (/metrics on the main port).
const CLUSTER_REQUEST = 'inkstone:metrics:cluster-request';
const CLUSTER_RESPONSE = 'inkstone:metrics:cluster-response';
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

interface ClusterRequest {
  type: typeof CLUSTER_REQUEST;
  id: number;
}
interface ClusterResponse {
  type: typeof CLUSTER_RESPONSE;
  id: number;
  text?: string;
}

let asked = 0;
const waiting = new Map<number, (text: string | undefined) => void>();

/**
 * In a worker: the whole cluster's scrape, through the primary (which asks every worker, this
 * one included). Undefined when the primary does not answer in time.
 */
export function scrapeThroughPrimary(timeoutMs = WORKER_TIMEOUT_MS + 1000): Promise<string | undefined> {
  if (!process.send) return Promise.resolve(undefined);
  if (waiting.size === 0) process.on('message', onClusterResponse);
  const id = asked++;
  return new Promise((resolve) => {
    const timer = setTimeout(() => finish(undefined), timeoutMs);
    const finish = (text: string | undefined) => {
      clearTimeout(timer);
      waiting.delete(id);
      if (waiting.size === 0) process.off('message', onClusterResponse);
      resolve(text);
    };
    waiting.set(id, finish);
    process.send!({ type: CLUSTER_REQUEST, id } satisfies ClusterRequest);
  });
}

function onClusterResponse(message: unknown) {
  if ((message as ClusterResponse | null)?.type !== CLUSTER_RESPONSE) return;
  const { id, text } = message as ClusterResponse;
  waiting.get(id)?.(text);
}

/** In the primary: one scrape of every worker, summed (or as each metric's aggregator says). */
export function clusterScraper(cluster: Cluster) {
  let next = 0;
  const pending = new Map<number, (metrics: MetricsJson | undefined) => void>();
  const scraper = {
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
  cluster.on('message', (worker, message: Response | ClusterRequest) => {
    if (message?.type === RESPONSE) pending.get(message.id)?.(message.metrics);
    else if (message?.type === CLUSTER_REQUEST) {
      const { id } = message;
      const reply = (text: string | undefined) => {
        if (worker.isConnected()) worker.send({ type: CLUSTER_RESPONSE, id, text } satisfies ClusterResponse);
      };
      scraper.scrape().then(reply, () => reply(undefined));
    }
  });
  return scraper;
}
