import {
  CompiledQuery,
  type DatabaseConnection,
  type Driver,
  type QueryCompiler,
  type QueryResult,
  SqliteDialect,
  type SqliteDialectConfig,
  type TransactionSettings,
} from 'kysely';

// Waits between tries of a statement that found the database locked by another process, after
// SQLite's own busy_timeout wait: about 1.3 s more in all, then the error goes up (503).
const BUSY_RETRY_DELAYS_MS = [10, 20, 40, 80, 150, 300, 700];

function isBusy(error: unknown): boolean {
  const code = (error as { code?: unknown } | null)?.code;
  return typeof code === 'string' && code.startsWith('SQLITE_BUSY');
}

/**
 * Runs `run` again while SQLite answers SQLITE_BUSY, with a growing, jittered wait that leaves
 * the event loop free. busy_timeout already makes SQLite wait for the lock, but not in every
 * case (a deferred transaction that read and then wants to write gets SQLITE_BUSY at once, to
 * avoid a deadlock), and its wait can run out under several `serve --workers` processes.
 */
export async function retryWhileBusy<T>(
  run: () => Promise<T>,
  delays: readonly number[] = BUSY_RETRY_DELAYS_MS,
): Promise<T> {
  for (let attempt = 0; ; attempt++) {
    try {
      return await run();
    } catch (error) {
      const delay = delays[attempt];
      if (delay === undefined || !isBusy(error)) throw error;
      await new Promise((resolve) => setTimeout(resolve, delay * (0.5 + Math.random())));
    }
  }
}

/**
 * The connection, with a locked database retried for statements outside a transaction. Inside
 * one, a statement is not retried alone: the transaction began IMMEDIATE, so it already holds
 * the write lock and only its COMMIT can still meet a busy database (retried, as SQLite allows).
 */
class RetryingConnection implements DatabaseConnection {
  inTransaction = false;

  constructor(private readonly inner: DatabaseConnection) {}

  executeQuery<R>(query: CompiledQuery): Promise<QueryResult<R>> {
    if (this.inTransaction) return this.inner.executeQuery<R>(query);
    return retryWhileBusy(() => this.inner.executeQuery<R>(query));
  }

  streamQuery<R>(query: CompiledQuery, chunkSize?: number): AsyncIterableIterator<QueryResult<R>> {
    return this.inner.streamQuery<R>(query, chunkSize);
  }
}

/**
 * Hands SQLite's one connection to queries in the order they asked for it.
 *
 * Kysely's own SqliteDriver guards the connection with a mutex whose unlock wakes every
 * waiter and lets whoever runs first take it, a newcomer included. With 100 requests in
 * flight, each query's unlock woke ~100 waiters that went back to sleep (work growing with
 * the square of the load), and a request could lose the race again and again: the page
 * benchmark showed p99 at 15× p50 and requests waiting past 2 s. Here a query waits behind
 * exactly the queries that asked before it, and an unlock wakes one waiter.
 */
class FifoLock {
  private held = false;
  private readonly waiting: (() => void)[] = [];

  lock(): Promise<void> {
    if (!this.held) {
      this.held = true;
      return Promise.resolve();
    }
    return new Promise((resolve) => this.waiting.push(resolve));
  }

  unlock(): void {
    // Handed over while still held: nobody can take it between this unlock and the next owner.
    const next = this.waiting.shift();
    if (next) next();
    else this.held = false;
  }

  /** For the pool gauges: whether a query has the connection, and how many wait for it. */
  stats(): { held: boolean; waiting: number } {
    return { held: this.held, waiting: this.waiting.length };
  }
}

/** Kysely's driver for everything but the order in which the connection is handed out. */
class FifoSqliteDriver implements Driver {
  readonly lock = new FifoLock();
  // SQLite's one connection, the same object every time (Kysely's driver hands out one too).
  private connection?: RetryingConnection;

  constructor(private readonly inner: Driver) {}

  init(): Promise<void> {
    return this.inner.init();
  }

  async acquireConnection(): Promise<DatabaseConnection> {
    await this.lock.lock();
    // Only one caller at a time gets here, so the inner driver's own mutex is always free.
    this.connection ??= new RetryingConnection(await this.inner.acquireConnection());
    return this.connection;
  }

  async releaseConnection(connection: DatabaseConnection): Promise<void> {
    try {
      await this.inner.releaseConnection(connection);
    } finally {
      this.lock.unlock();
    }
  }

  // IMMEDIATE: the write lock is taken at BEGIN, where busy_timeout and the retry apply, rather
  // than at the first write, where another process's commit would fail the transaction with
  // SQLITE_BUSY at once. Within a process queries already run one at a time, so this costs
  // nothing here; a read-only transaction does take the write lock (the app's transactions write).
  async beginTransaction(connection: DatabaseConnection, _settings: TransactionSettings): Promise<void> {
    await connection.executeQuery(CompiledQuery.raw('begin immediate'));
    (connection as RetryingConnection).inTransaction = true;
  }

  async commitTransaction(connection: DatabaseConnection): Promise<void> {
    await retryWhileBusy(() => (connection as RetryingConnection).executeQuery(CompiledQuery.raw('commit')));
    (connection as RetryingConnection).inTransaction = false;
  }

  async rollbackTransaction(connection: DatabaseConnection): Promise<void> {
    try {
      await connection.executeQuery(CompiledQuery.raw('rollback'));
    } finally {
      (connection as RetryingConnection).inTransaction = false;
    }
  }

  savepoint(
    connection: DatabaseConnection,
    name: string,
    compile: QueryCompiler['compileQuery'],
  ): Promise<void> {
    return this.inner.savepoint!(connection, name, compile);
  }

  rollbackToSavepoint(
    connection: DatabaseConnection,
    name: string,
    compile: QueryCompiler['compileQuery'],
  ): Promise<void> {
    return this.inner.rollbackToSavepoint!(connection, name, compile);
  }

  releaseSavepoint(
    connection: DatabaseConnection,
    name: string,
    compile: QueryCompiler['compileQuery'],
  ): Promise<void> {
    return this.inner.releaseSavepoint!(connection, name, compile);
  }

  destroy(): Promise<void> {
    return this.inner.destroy();
  }
}

/** SqliteDialect with a first-come, first-served connection (see FifoLock). */
export class FifoSqliteDialect extends SqliteDialect {
  private driver?: FifoSqliteDriver;

  constructor(config: SqliteDialectConfig) {
    super(config);
  }

  override createDriver(): Driver {
    this.driver = new FifoSqliteDriver(super.createDriver());
    return this.driver;
  }

  /** The one connection as a pool of one: busy or idle, and the queries waiting for it. */
  stats(): { held: boolean; waiting: number } {
    return this.driver?.lock.stats() ?? { held: false, waiting: 0 };
  }
}
