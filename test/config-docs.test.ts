import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { envExample, withReadmeTable } from '../src/config-docs.js';
import { EnvSchema } from '../src/config-schema.js';

const read = (file: string) => readFileSync(new URL(`../${file}`, import.meta.url), 'utf8');

describe('configuration docs', () => {
  it('.env.example is what the schema gives (run `npm run config:docs` after changing it)', () => {
    expect(read('.env.example')).toBe(envExample());
  });

  it("the README's configuration table is what the schema gives (run `npm run config:docs`)", () => {
    const readme = read('README.md');
    expect(readme).toBe(withReadmeTable(readme));
  });

  it('every variable has a description and a default, given or described', () => {
    for (const [name, schema] of Object.entries(EnvSchema.properties)) {
      const variable = schema as { description?: string; default?: unknown; defaultText?: string };
      expect(variable.description, name).toBeTruthy();
      expect(variable.default !== undefined || variable.defaultText !== undefined, name).toBe(true);
    }
  });
});
