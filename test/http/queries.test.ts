import type { KyselyPlugin, PluginTransformQueryArgs, PluginTransformResultArgs } from 'kysely';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildApp } from '../../src/app.js';
import { loadConfig } from '../../src/config.js';
import type { FastifyInstance } from 'fastify';
import { scryptHasher } from '../../src/modules/users/password.js';
import { availableDialects, createTestDatabase, type TestDatabase } from '../helpers/db.js';
import { createUser, Client } from '../helpers/app.js';
import { writeComment, writePost } from './fixtures.js';

/** Records the SQL of every query the app runs, so a test can count a page's queries. */
class QueryLog implements KyselyPlugin {
  readonly sql: string[] = [];
  constructor(private readonly compile: (args: PluginTransformQueryArgs) => string) {}
  transformQuery(args: PluginTransformQueryArgs) {
    this.sql.push(this.compile(args));
    return args.node;
  }
  async transformResult(args: PluginTransformResultArgs) {
    return args.result;
  }
  /** The queries `run` makes. */
  async during(run: () => Promise<unknown>): Promise<string[]> {
    const before = this.sql.length;
    await run();
    return this.sql.slice(before);
  }
}

// Pages gather their view model from services once; the layout's settings and the
// "needs setup" question are answered from memory. Before this, the home page made 6
// queries and the post page 7 (the post loaded twice). Counted with the query cache off
// (what every miss costs), and below with it on (what a hit costs).
describe.each(await availableDialects())('queries per page on %s', (dialect) => {
  let database: TestDatabase;
  let app: FastifyInstance;
  let log: QueryLog;
  let slug: string;
  const visitor = () => new Client(app);

  beforeAll(async () => {
    database = await createTestDatabase(dialect);
    const executor = database.handle.db.getExecutor();
    log = new QueryLog((args) => executor.compileQuery(args.node, args.queryId).sql);
    const config = loadConfig({ NODE_ENV: 'test', QUERY_CACHE_TTL_SECONDS: '0' });
    config.database = database.config;
    app = await buildApp({
      config,
      database: { ...database.handle, db: database.handle.db.withPlugin(log) },
      overrides: { passwordHasher: scryptHasher(2 ** 10) },
      logger: false,
    });
    const author = await createUser(app, 'author');
    const reader = await createUser(app, 'reader');
    for (let i = 0; i < 3; i++) await writePost(app, author, { tags: ['one', 'two'] });
    const post = await writePost(app, author, { tags: ['one'] });
    await writeComment(app, post.id, reader);
    slug = post.slug;
    // The first page view reads the settings once; later ones do not.
    await visitor().get('/');
  });
  afterAll(async () => {
    await app?.close();
    await database?.destroy();
  });

  it('renders the home page in at most 4 queries: posts, their count, their tags, the tag cloud', async () => {
    let status = 0;
    const queries = await log.during(async () => {
      status = (await visitor().get('/')).statusCode;
    });
    expect(status).toBe(200);
    expect(queries.length).toBeLessThanOrEqual(4);
    expect(queries.join('\n')).not.toMatch(/from "settings"/);
    expect(queries.join('\n')).not.toMatch(/count\(\*\)[^\n]*from "users"/);
  });

  it('renders a post page in at most 4 queries and loads the post once', async () => {
    let status = 0;
    const queries = await log.during(async () => {
      status = (await visitor().get(`/posts/${encodeURIComponent(slug)}`)).statusCode;
    });
    expect(status).toBe(200);
    expect(queries.length).toBeLessThanOrEqual(4);
    const postLoads = queries.filter((sql) => /^select "posts"\.\*.* from "posts"/.test(sql));
    expect(postLoads).toHaveLength(1);
  });
});

describe.each(await availableDialects())('queries per page with the query cache on %s', (dialect) => {
  let database: TestDatabase;
  let app: FastifyInstance;
  let log: QueryLog;
  let author: Awaited<ReturnType<typeof createUser>>;
  let reader: Client;

  beforeAll(async () => {
    database = await createTestDatabase(dialect);
    const executor = database.handle.db.getExecutor();
    log = new QueryLog((args) => executor.compileQuery(args.node, args.queryId).sql);
    const config = loadConfig({ NODE_ENV: 'test' });
    config.database = database.config;
    app = await buildApp({
      config,
      database: { ...database.handle, db: database.handle.db.withPlugin(log) },
      overrides: { passwordHasher: scryptHasher(2 ** 10) },
      logger: false,
    });
    author = await createUser(app, 'author');
    const user = await createUser(app, 'reader');
    for (let i = 0; i < 3; i++) await writePost(app, author, { tags: ['one', 'two'] });
    reader = await new Client(app).login(user.username, user.password);
  });
  afterAll(async () => {
    await app?.close();
    await database?.destroy();
  });

  it('answers a signed-in home page, its session included, and the API list with no query once warm', async () => {
    await reader.get('/');
    await visitorOf(app).get('/api/v1/posts');
    const queries = await log.during(async () => {
      expect((await reader.get('/')).statusCode).toBe(200);
      expect((await visitorOf(app).get('/api/v1/posts')).statusCode).toBe(200);
    });
    expect(queries).toEqual([]);
  });

  it("answers a signed-in reader's post page, its comments included, with no query once warm", async () => {
    const post = await writePost(app, author, { title: 'With a comment' });
    await writeComment(app, post.id, author, 'Warm words');
    const page = `/posts/${post.slug}`;
    await reader.get(page);
    let body = '';
    const queries = await log.during(async () => {
      body = (await reader.get(page)).body;
    });
    expect(body).toContain('Warm words');
    expect(queries).toEqual([]);
  });

  it('reads the lists again after a publication, and only them', async () => {
    await reader.get('/');
    const post = await writePost(app, author, { title: 'Fresh from the press' });
    let body = '';
    const queries = await log.during(async () => {
      body = (await reader.get('/')).body;
    });
    expect(body).toContain('Fresh from the press');
    expect(queries.length).toBeGreaterThan(0);
    // The session and the actor were not invalidated by a post.
    expect(queries.join('\n')).not.toMatch(/from "sessions"/);
    expect(post.id).toBeGreaterThan(0);
  });
});

const visitorOf = (app: FastifyInstance) => new Client(app);
