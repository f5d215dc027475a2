import type { Cluster } from 'node:cluster';
import {
  AggregatorRegistry,
  Gauge,
  type MetricObjectWithValues,
  type MetricValue,
  type Registry,
  type RegistryContentType,
} from 'prom-client';
import { ACTIVE_USERS, ACTIVE_USERS_HELP } from './users.js';

// Not prom-client's own clusterMetrics(): it asks every forked worker, including one still
// booting that has no listener yet, and then fails the whole scrape after 5 s. Here a worker
// that does not answer in time is left out of that scrape, and the rest still come back.
const REQUEST = 'inkstone:metrics:request';
const RESPONSE = 'inkstone:metrics:response';
// A worker asking the primary for the whole cluster's scrape (/metrics on the main port).
const CLUSTER_REQUEST = 'inkstone:metrics:cluster-request';
const CLUSTER_RESPONSE = 'inkstone:metrics:cluster-response';
const WORKER_TIMEOUT_MS = 2000;

export type MetricsJson = MetricObjectWithValues<MetricValue<string>>[];

interface Request {
  type: typeof REQUEST;
  id: number;
}
interface Response {
  type: typeof RESPONSE;
  id: number;
  metrics?: MetricsJson;
  /** The ids of the signed-in users this worker saw lately, for the cluster's distinct count. */
  activeUsers?: number[];
}

/**
 * In a worker: answers the primary's scrapes with this registry, and with the ids behind
 * inkstone_active_users (a user served by two workers is one user: the primary counts the
 * union, which a sum of the workers' gauges cannot). Returns the unsubscribe.
 */
export function answerClusterScrapes(registry: Registry, activeUsers?: () => number[]): () => void {
  const listener = (message: unknown) => {
    if ((message as Request | null)?.type !== REQUEST || !process.send) return;
    const { id } = message as Request;
    void registry
      .getMetricsAsJSON()
      .then((metrics) =>
        process.send?.({ type: RESPONSE, id, metrics, activeUsers: activeUsers?.() } satisfies Response),
      )
      .catch(() => process.send?.({ type: RESPONSE, id } satisfies Response));
  };
  process.on('message', listener);
  return () => void process.off('message', listener);
}

interface ClusterRequest {
  type: typeof CLUSTER_REQUEST;
  id: number;
  /** json: the aggregated registry as getMetricsAsJSON() gives it (/admin/metrics.json). */
  format?: 'text' | 'json';
}
interface ClusterResponse {
  type: typeof CLUSTER_RESPONSE;
  id: number;
  text?: string;
  json?: ClusterJson;
}

/** The whole cluster's series, and how many workers answered in time. */
export interface ClusterJson {
  metrics: MetricsJson;
  workers: number;
}

let asked = 0;
const waiting = new Map<number, (response: ClusterResponse | undefined) => void>();

function askPrimary(format: 'text' | 'json', timeoutMs: number): Promise<ClusterResponse | undefined> {
  if (!process.send) return Promise.resolve(undefined);
  if (waiting.size === 0) process.on('message', onClusterResponse);
  const id = asked++;
  return new Promise((resolve) => {
    const timer = setTimeout(() => finish(undefined), timeoutMs);
    const finish = (response: ClusterResponse | undefined) => {
      clearTimeout(timer);
      waiting.delete(id);
      if (waiting.size === 0) process.off('message', onClusterResponse);
      resolve(response);
    };
    waiting.set(id, finish);
    process.send!({ type: CLUSTER_REQUEST, id, format } satisfies ClusterRequest);
  });
}

/**
 * In a worker: the whole cluster's scrape, through the primary (which asks every worker, this
 * one included). Undefined when the primary does not answer in time.
 */
export async function scrapeThroughPrimary(
  timeoutMs = WORKER_TIMEOUT_MS + 1000,
): Promise<string | undefined> {
  return (await askPrimary('text', timeoutMs))?.text;
}

/** In a worker: the whole cluster's series as JSON, through the primary; undefined as above. */
export async function scrapeJsonThroughPrimary(
  timeoutMs = WORKER_TIMEOUT_MS + 1000,
): Promise<ClusterJson | undefined> {
  return (await askPrimary('json', timeoutMs))?.json;
}

function onClusterResponse(message: unknown) {
  if ((message as ClusterResponse | null)?.type !== CLUSTER_RESPONSE) return;
  waiting.get((message as ClusterResponse).id)?.(message as ClusterResponse);
}

/**
 * The workers' series aggregated (summed, or as each metric's aggregator says), with
 * inkstone_active_users counted over the union of their users when every worker sent its ids.
 */
function aggregate(answers: Response[]): Registry<RegistryContentType> {
  const got = answers.filter((answer) => answer.metrics !== undefined);
  const registry = AggregatorRegistry.aggregate(got.map((answer) => answer.metrics!));
  if (got.length > 0 && got.every((answer) => answer.activeUsers !== undefined)) {
    const distinct = new Set(got.flatMap((answer) => answer.activeUsers!));
    registry.removeSingleMetric(ACTIVE_USERS);
    new Gauge({ name: ACTIVE_USERS, help: ACTIVE_USERS_HELP, registers: [registry] }).set(distinct.size);
  }
  return registry;
}

/** In the primary: one scrape of every worker, summed (or as each metric's aggregator says). */
export function clusterScraper(cluster: Cluster) {
  let next = 0;
  const pending = new Map<number, (response: Response | undefined) => void>();
  const askWorkers = async (): Promise<Response[]> => {
    const workers = Object.values(cluster.workers ?? {}).filter((worker) => worker?.isConnected());
    const answers = await Promise.all(
      workers.map(
        (worker) =>
          new Promise<Response | undefined>((resolve) => {
            const id = next++;
            const timer = setTimeout(() => finish(undefined), WORKER_TIMEOUT_MS);
            const finish = (response: Response | undefined) => {
              clearTimeout(timer);
              pending.delete(id);
              resolve(response);
            };
            pending.set(id, finish);
            worker!.send({ type: REQUEST, id } satisfies Request);
          }),
      ),
    );
    return answers.filter((answer): answer is Response => answer?.metrics !== undefined);
  };
  const scraper = {
    contentType: AggregatorRegistry.PROMETHEUS_CONTENT_TYPE,
    async scrape(): Promise<string> {
      return aggregate(await askWorkers()).metrics();
    },
    async scrapeJson(): Promise<ClusterJson> {
      const answers = await askWorkers();
      return { metrics: await aggregate(answers).getMetricsAsJSON(), workers: answers.length };
    },
  };
  cluster.on('message', (worker, message: Response | ClusterRequest) => {
    if (message?.type === RESPONSE) pending.get(message.id)?.(message);
    else if (message?.type === CLUSTER_REQUEST) {
      const { id } = message;
      const reply = (answer: Pick<ClusterResponse, 'text' | 'json'>) => {
        if (worker.isConnected())
          worker.send({ type: CLUSTER_RESPONSE, id, ...answer } satisfies ClusterResponse);
      };
      if (message.format === 'json')
        scraper.scrapeJson().then(
          (json) => reply({ json }),
          () => reply({}),
        );
      else
        scraper.scrape().then(
          (text) => reply({ text }),
          () => reply({}),
        );
    }
  });
  return scraper;
}
