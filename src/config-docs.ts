import { CONFIG_SECTIONS, EnvSchema, type VariableSchema, variablesOf } from './config-schema.js';

// `.env.example` and the README's configuration table, written from the schema by
// `npm run config:docs` (scripts/config-docs.ts); test/config-docs.test.ts fails when the
// committed files differ from what these functions return.

const TABLE_START = '<!-- config:start: generated from src/config-schema.ts by `npm run config:docs` -->';
const TABLE_END = '<!-- config:end -->';

/** The default as Markdown, for the README. */
function defaultOf(schema: VariableSchema): string {
  return schema.defaultText ?? `\`${String(schema.default)}\``;
}

function plain(markdown: string): string {
  return markdown.replaceAll('`', '');
}

// A description that opens with a code value (`production`, `sqlite:PATH`) keeps its case.
function sentence(markdown: string): string {
  const text = markdown.startsWith('`')
    ? markdown
    : `${markdown.charAt(0).toUpperCase()}${markdown.slice(1)}`;
  return `${plain(text)}.`;
}

export function envExample(): string {
  const lines = [
    '# Inkstone configuration, written from src/config-schema.ts by `npm run config:docs`:',
    '# edit the schema, not this file. Every variable is optional outside production, and',
    '# `npm start` runs on SQLite at ./data/inkstone.db with none set. Export them, or copy',
    '# this file to .env and start with `node --env-file=.env bin/inkstone.js serve`.',
  ];
  for (const [title, section] of Object.entries(CONFIG_SECTIONS)) {
    lines.push('', `## ${title}`);
    for (const [name, schema] of variablesOf(section)) {
      const computed = schema.defaultText === undefined ? '' : ` Default: ${plain(schema.defaultText)}.`;
      const range = schema.type === 'integer' ? ` From ${schema.minimum} to ${schema.maximum}.` : '';
      lines.push('', `# ${sentence(schema.description ?? '')}${range}${computed}`);
      lines.push(`${name}=${schema.default === undefined ? '' : String(schema.default)}`);
    }
  }
  return `${lines.join('\n')}\n`;
}

/** Pads like Prettier does, so `prettier --check` accepts the README as written. */
function table(rows: string[][]): string {
  const widths = rows[0]!.map((_, column) => Math.max(...rows.map((row) => row[column]!.length)));
  const line = (cells: string[]) => `| ${cells.map((cell, i) => cell.padEnd(widths[i]!)).join(' | ')} |`;
  const [head, ...body] = rows;
  return [line(head!), line(widths.map((width) => '-'.repeat(width))), ...body.map(line)].join('\n');
}

export function readmeTable(): string {
  const rows = variablesOf(EnvSchema).map(([name, schema]) => [
    `\`${name}\``,
    defaultOf(schema),
    schema.description ?? '',
  ]);
  return table([['variable', 'default', 'meaning'], ...rows]);
}

/** The README with its configuration table replaced by the one the schema gives. */
export function withReadmeTable(readme: string): string {
  const start = readme.indexOf(TABLE_START);
  const end = readme.indexOf(TABLE_END);
  if (start < 0 || end < start) {
    throw new Error(
      `README.md needs the lines ${TABLE_START} and ${TABLE_END} around the configuration table`,
    );
  }
  return `${readme.slice(0, start)}${TABLE_START}\n\n${readmeTable()}\n\n${readme.slice(end)}`;
}
