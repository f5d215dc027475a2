import { configDefaults, defineConfig } from 'vitest/config';

// Three tiers, chosen by what a file touches (see README, "Quick start"):
// - unit: pure functions and services with fakes; no database, no app, no browser.
// - integration: real repositories on SQLite and PostgreSQL, and the app over app.inject().
// - e2e: the app on a real port, driven by Chromium.
// A new file lands in integration unless listed here, so a slow test never hides in the fast tier.
const UNIT = [
  'test/unit/**/*.test.ts',
  'test/config.test.ts',
  'test/config-docs.test.ts',
  'test/modules/posts/{slug,markdown,schemas,feeds}.test.ts',
  'test/modules/ai/stream-reader.test.ts',
];
const E2E = ['test/e2e/**/*.test.ts'];

export default defineConfig({
  test: {
    // A non-UTC zone catches code that formats or compares dates in local time.
    env: { TZ: 'Asia/Shanghai', NODE_ENV: 'test' },
    testTimeout: 20_000,
    hookTimeout: 30_000,
    pool: 'forks',
    projects: [
      {
        extends: true,
        // Pure tests can share one module cache (no fresh process per file): about half the time.
        test: { name: 'unit', include: UNIT, testTimeout: 5_000, isolate: false },
      },
      {
        extends: true,
        test: {
          name: 'integration',
          include: ['test/**/*.test.ts'],
          exclude: [...configDefaults.exclude, ...UNIT, ...E2E],
          globalSetup: ['test/helpers/global-setup.ts'],
        },
      },
      {
        extends: true,
        test: {
          name: 'e2e',
          include: E2E,
          globalSetup: ['test/helpers/global-setup.ts'],
          // A browser test polls the page as Playwright would (its context waits 15 s), not for
          // vitest's default 1 s: /admin/metrics draws its first point only after two readings
          // a second apart, and a busy CI machine missed that window.
          expect: { poll: { timeout: 15_000 } },
        },
      },
    ],
  },
});
