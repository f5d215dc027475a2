import cluster from 'node:cluster';
import { parseArgs } from 'node:util';
import { parseWorkers, runPrimary } from '../cluster.js';
import { ConfigError, loadConfig } from '../config.js';
import { openDatabase } from '../db/migrate.js';
import type { Role } from '../db/types.js';
import { ROLES } from '../modules/access/permissions.js';
import { keepNextTickFast } from '../next-tick.js';
import type { Services } from '../services.js';

// Before anything queues a tick: src/next-tick.ts says why (V8 runtime calls on every tick).
keepNextTickFast();

// The app, its services and the other commands are imported by the command that needs them:
// the primary of `serve --workers N` only migrates, forks and relays, and so stays small.

const USAGE = `Usage: inkstone <command> [options]

Commands:
  serve [--workers N|auto]   start the web server (HOST, PORT, DATABASE_URL from the environment);
                             --workers forks N processes on the one port (auto: one per core)
  worker [--concurrency N]   run queued AI jobs from Redis (REDIS_URL); see inkstone worker --help
  migrate                    apply database migrations
  seed [--force]             add demo users, tagged posts and comments
  user create --username U --email E --password P [--role reader|author|editor|admin] [--display-name N]
  model pull <url> [--to data/models/]
                             download a GGUF model for AI_PROVIDER=llamacpp (then set AI_MODEL_PATH)
  bench <test> [options]     load, cache and concurrency tests against a running Inkstone (or any
                             URL), with an HTML report; see inkstone bench --help

Configuration comes from environment variables; see .env.example.`;

async function withServices<T>(run: (services: Services) => Promise<T>): Promise<T> {
  const config = loadConfig();
  const { createServices } = await import('../services.js');
  const { handle } = await openDatabase(config.database);
  try {
    return await run(createServices(handle, config));
  } finally {
    await handle.close();
  }
}

async function main(argv: string[]): Promise<number> {
  const [command, ...rest] = argv;
  switch (command) {
    case 'serve': {
      const { values } = parseArgs({ args: rest, options: { workers: { type: 'string' } } });
      const workers = values.workers === undefined ? undefined : parseWorkers(values.workers);
      const config = loadConfig();
      // A forked worker runs this same command line, and serves.
      if (workers !== undefined && cluster.isPrimary) return runPrimary(config, workers);
      const { startServer } = await import('../server.js');
      await startServer(config);
      return -1;
    }
    case 'worker': {
      const { values } = parseArgs({
        args: rest,
        options: {
          concurrency: { type: 'string' },
          'metrics-port': { type: 'string' },
          help: { type: 'boolean', short: 'h' },
        },
      });
      const { runWorker, WORKER_USAGE } = await import('./worker.js');
      if (values.help) {
        console.log(WORKER_USAGE);
        return 0;
      }
      const concurrency = values.concurrency === undefined ? undefined : Number(values.concurrency);
      if (concurrency !== undefined && !(Number.isInteger(concurrency) && concurrency >= 1)) {
        throw new Error('--concurrency must be a whole number of 1 or more');
      }
      const metricsPort = values['metrics-port'] === undefined ? undefined : Number(values['metrics-port']);
      if (
        metricsPort !== undefined &&
        !(Number.isInteger(metricsPort) && metricsPort >= 1 && metricsPort <= 65535)
      ) {
        throw new Error('--metrics-port must be a port number (1 to 65535)');
      }
      await runWorker(loadConfig(), { concurrency, metricsPort });
      return -1;
    }
    case 'migrate': {
      const { handle, applied } = await openDatabase(loadConfig().database);
      await handle.close();
      console.log(applied.length ? `Applied: ${applied.join(', ')}` : 'The database is up to date.');
      return 0;
    }
    case 'seed': {
      const { values } = parseArgs({ args: rest, options: { force: { type: 'boolean', default: false } } });
      const { seedDemo } = await import('./seed.js');
      const summary = await withServices((services) => seedDemo(services, { force: values.force }));
      console.log(summary);
      return 0;
    }
    case 'user': {
      const [sub, ...args] = rest;
      if (sub !== 'create') break;
      const { values } = parseArgs({
        args,
        options: {
          username: { type: 'string' },
          email: { type: 'string' },
          password: { type: 'string' },
          role: { type: 'string', default: 'reader' },
          'display-name': { type: 'string' },
        },
      });
      const missing = ['username', 'email', 'password'].filter((k) => !values[k as keyof typeof values]);
      if (missing.length) throw new Error(`user create needs --${missing.join(', --')}`);
      if (!ROLES.includes(values.role as Role)) throw new Error(`--role must be one of ${ROLES.join(', ')}`);
      const user = await withServices((services) =>
        services.users.create(
          {
            username: values.username ?? '',
            email: values.email ?? '',
            password: values.password ?? '',
            displayName: values['display-name'],
          },
          values.role as Role,
        ),
      );
      console.log(`Created ${user.role} @${user.username} (id ${user.id}).`);
      return 0;
    }
    case 'model': {
      const [sub, ...args] = rest;
      if (sub !== 'pull') break;
      const { values, positionals } = parseArgs({
        args,
        allowPositionals: true,
        options: { to: { type: 'string', default: 'data/models' } },
      });
      if (positionals.length !== 1)
        throw new Error('model pull needs one URL: inkstone model pull <url> [--to DIR]');
      const { formatBytes, pullModel } = await import('./model-pull.js');
      const { path, bytes, seconds } = await pullModel(positionals[0]!, { to: values.to });
      console.log(
        `Saved ${path} (${formatBytes(bytes)} in ${seconds.toFixed(1)} s). Use it with AI_MODEL_PATH=${path}`,
      );
      return 0;
    }
    case 'bench': {
      const { runBench } = await import('../bench/cli.js');
      return runBench(rest);
    }
    case undefined:
    case 'help':
    case '--help':
    case '-h':
      console.log(USAGE);
      return 0;
  }
  console.error(`Unknown command: ${argv.join(' ')}\n\n${USAGE}`);
  return 2;
}

main(process.argv.slice(2)).then(
  (code) => {
    if (code >= 0) process.exit(code);
  },
  (error: unknown) => {
    if (error instanceof ConfigError) console.error(error.message);
    else {
      const { message } = error as Error;
      // A field error's message usually is its one field's message: say it once.
      const details = Object.values((error as { fields?: Record<string, string> }).fields ?? {}).filter(
        (detail) => detail !== message,
      );
      console.error(`inkstone: ${message}${details.length ? ` (${details.join('; ')})` : ''}`);
    }
    process.exit(1);
  },
);
