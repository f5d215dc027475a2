// The database a run measures: a fresh SQLite file or a fresh PostgreSQL schema, seeded with
// the demo content of `npm run db:seed` (src/cli/seed.ts), so the pages are the ones a
// visitor of a new Inkstone sees.
import { join } from 'node:path';
import { seedDemo } from '../../src/cli/seed.js';
import { loadConfig } from '../../src/config.js';
import { openDatabase } from '../../src/db/migrate.js';
import { scryptHasher } from '../../src/modules/users/password.js';
import { createServices } from '../../src/services.js';
import { createSchema } from '../ai/backends.js';

const KINDS = ['sqlite', 'postgres'] as const;
export type DatabaseKind = (typeof KINDS)[number];

/**
 * `--databases`'s list (`sqlite,postgres`, in the order to run them), or a sentence saying
 * what is wrong with it. The order is an option because a run is long: a database measured
 * later in it meets a machine that has been busy longer.
 */
export function parseDatabases(text: string): DatabaseKind[] | string {
  const names = text.split(',').map((name) => name.trim());
  const unknown = names.find((name) => !(KINDS as readonly string[]).includes(name));
  if (unknown !== undefined) return `--databases: "${unknown}" is not one of ${KINDS.join(', ')}`;
  if (new Set(names).size !== names.length) return `--databases: "${text}" names a database twice`;
  return names as DatabaseKind[];
}

export interface BenchDatabase {
  /** DATABASE_URL for Inkstone. */
  url: string;
  drop(): Promise<void>;
}

async function seed(url: string): Promise<void> {
  const config = loadConfig({ NODE_ENV: 'test', DATABASE_URL: url });
  const { handle } = await openDatabase(config.database);
  try {
    // The demo users' passwords are never typed during the run: a cheap hash starts it faster.
    await seedDemo(createServices(handle, config, { passwordHasher: scryptHasher(2 ** 10) }), {
      force: false,
    });
  } finally {
    await handle.close();
  }
}

/** A seeded database; for PostgreSQL a sentence instead when it is unreachable. */
export async function prepareDatabase(
  kind: DatabaseKind,
  dir: string,
  postgresUrl: string,
): Promise<BenchDatabase | string> {
  if (kind === 'sqlite') {
    const url = `sqlite:${join(dir, 'pages.db')}`;
    await seed(url);
    return { url, drop: async () => {} };
  }
  const schema = await createSchema(postgresUrl);
  if (typeof schema === 'string') return schema;
  try {
    await seed(schema.databaseUrl);
  } catch (error) {
    await schema.drop().catch(() => {});
    throw error;
  }
  return { url: schema.databaseUrl, drop: schema.drop };
}
