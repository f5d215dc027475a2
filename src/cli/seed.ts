import type { Role } from '../db/types.js';
import type { Actor } from '../modules/access/permissions.js';
import { toActor } from '../modules/users/service.js';
import type { Services } from '../services.js';

export const DEMO_PASSWORD = 'inkstone-demo';

const USERS: { username: string; displayName: string; role: Role; bio: string }[] = [
  { username: 'ada', displayName: 'Ada Lovelace', role: 'admin', bio: 'Runs this place. Thinks in engines.' },
  {
    username: 'grace',
    displayName: 'Grace Hopper',
    role: 'editor',
    bio: 'Edits everything; debugs the rest.',
  },
  { username: 'lin', displayName: '林语堂', role: 'author', bio: '写作，读书，喝茶。' },
  { username: 'alan', displayName: 'Alan Turing', role: 'author', bio: 'Long walks and short proofs.' },
  { username: 'rosa', displayName: 'Rosa Reader', role: 'reader', bio: '' },
];

const POSTS: {
  author: string;
  title: string;
  tags: string[];
  body: string;
  daysAgo: number;
  draft?: boolean;
}[] = [
  {
    author: 'ada',
    title: 'Welcome to Inkstone',
    tags: ['announcements', 'inkstone'],
    daysAgo: 6,
    body: `Inkstone is a blog that writes with you. Authors draft in **Markdown**, readers comment, and
everything you see here is rendered on the server and sanitised.

## What you can try

- Sign in as one of the demo users (password \`${DEMO_PASSWORD}\`).
- Open *Write* and watch the preview follow your typing.
- Search for a word, or for 博客.

> A blog should be fast to read and pleasant to write.`,
  },
  {
    author: 'lin',
    title: '写博客的理由',
    tags: ['随笔', 'writing'],
    daysAgo: 5,
    body: `为什么还要写博客？因为慢慢写下来的东西，会比随手发出的消息活得更久。

写作让思考变得清楚。一篇好的博客，不需要很长，只需要诚实。

- 每周写一篇
- 先写草稿，再修改
- 发布之前读一遍`,
  },
  {
    author: 'alan',
    title: 'On computable numbers, briefly',
    tags: ['mathematics', 'history'],
    daysAgo: 4,
    body: `A number is *computable* if a machine can write down its digits one after another.
Most real numbers are not: there are only countably many machines.

\`\`\`python
def digits_of_one_third():
    while True:
        yield 3
\`\`\`

The surprise is not that some numbers escape us, but how few we ever needed.`,
  },
  {
    author: 'grace',
    title: 'Notes from an editor’s desk',
    tags: ['writing', 'editing'],
    daysAgo: 3,
    body: `Three things I ask of every draft:

1. Say the point in the first paragraph.
2. Cut the adjectives you would not say aloud.
3. End when you are done.

Everything else is taste.`,
  },
  {
    author: 'alan',
    title: 'Caching a page render, and when not to',
    tags: ['engineering', 'inkstone'],
    daysAgo: 2,
    body: `A page that every reader sees the same way can be rendered once and served many times.
A page with *your* name on it cannot. The trick is to draw that line in one place.

| page | shared? |
| --- | --- |
| home | yes |
| account | no |`,
  },
  {
    author: 'lin',
    title: '茶与代码',
    tags: ['随笔', 'engineering'],
    daysAgo: 1,
    body: `泡一壶茶，写一段代码。茶凉了，代码也该重构了。

好的代码像好的文章：短句，清楚，没有多余的字。`,
  },
  {
    author: 'alan',
    title: 'An unfinished thought',
    tags: ['drafts'],
    daysAgo: 0,
    draft: true,
    body: 'This one is still a draft: only Alan and the editors can see it.',
  },
];

const COMMENTS: { post: number; author: string; body: string }[] = [
  { post: 0, author: 'rosa', body: 'Looks lovely. Is there a **dark mode**? (Asking for my eyes.)' },
  { post: 0, author: 'grace', body: 'There is: it follows your system setting.' },
  { post: 1, author: 'ada', body: '说得好。*诚实*是最难的部分。' },
  { post: 2, author: 'rosa', body: 'Countably many machines — that line made it click for me.' },
  { post: 3, author: 'lin', body: 'Rule 3 is the hardest one to keep.' },
];

/** Demo users, tagged posts (English and Chinese) and comments, like the seeds' reset_db. */
export async function seedDemo(services: Services, options: { force: boolean }): Promise<string> {
  const existing = await services.users.count();
  if (existing > 0 && !options.force) {
    throw new Error(
      `the database already has ${existing} user(s); seeding would mix demo content into it. Run with --force to add it anyway.`,
    );
  }
  const actors = new Map<string, Actor>();
  for (const user of USERS) {
    const row = await services.users
      .create(
        {
          username: user.username,
          email: `${user.username}@example.com`,
          password: DEMO_PASSWORD,
          displayName: user.displayName,
        },
        user.role,
      )
      .catch(async () => services.users.getByUsername(user.username));
    const actor = toActor(row);
    if (user.bio) await services.users.updateProfile(actor, { bio: user.bio });
    actors.set(user.username, actor);
  }
  const postIds: number[] = [];
  for (const post of POSTS) {
    const publishedAt = new Date(Date.now() - post.daysAgo * 86_400_000 - 3_600_000).toISOString();
    const created = await services.posts.create(
      {
        title: post.title,
        body: post.body,
        tags: post.tags,
        ...(post.draft ? { status: 'draft' as const } : { status: 'published' as const, publishedAt }),
      },
      actors.get(post.author) ?? null,
    );
    postIds.push(created.id);
  }
  for (const comment of COMMENTS) {
    await services.comments.create(
      postIds[comment.post] ?? 0,
      comment.body,
      actors.get(comment.author) ?? null,
    );
  }
  return [
    `Seeded ${USERS.length} users, ${POSTS.length} posts and ${COMMENTS.length} comments.`,
    `Sign in as ${USERS.map((u) => `${u.username} (${u.role})`).join(', ')} with the password "${DEMO_PASSWORD}".`,
  ].join('\n');
}
