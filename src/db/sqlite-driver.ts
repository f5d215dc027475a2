import {
  type DatabaseConnection,
  type Driver,
  type QueryCompiler,
  SqliteDialect,
  type SqliteDialectConfig,
  type TransactionSettings,
} from 'kysely';

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
}

/** Kysely's driver for everything but the order in which the connection is handed out. */
class FifoSqliteDriver implements Driver {
  private readonly lock = new FifoLock();

  constructor(private readonly inner: Driver) {}

  init(): Promise<void> {
    return this.inner.init();
  }

  async acquireConnection(): Promise<DatabaseConnection> {
    await this.lock.lock();
    // Only one caller at a time gets here, so the inner driver's own mutex is always free.
    return this.inner.acquireConnection();
  }

  async releaseConnection(connection: DatabaseConnection): Promise<void> {
    try {
      await this.inner.releaseConnection(connection);
    } finally {
      this.lock.unlock();
    }
  }

  beginTransaction(connection: DatabaseConnection, settings: TransactionSettings): Promise<void> {
    return this.inner.beginTransaction(connection, settings);
  }

  commitTransaction(connection: DatabaseConnection): Promise<void> {
    return this.inner.commitTransaction(connection);
  }

  rollbackTransaction(connection: DatabaseConnection): Promise<void> {
    return this.inner.rollbackTransaction(connection);
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
  constructor(config: SqliteDialectConfig) {
    super(config);
  }

  override createDriver(): Driver {
    return new FifoSqliteDriver(super.createDriver());
  }
}
