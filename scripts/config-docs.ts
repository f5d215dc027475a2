// Rewrites .env.example and the README's configuration table from src/config-schema.ts.
import { readFileSync, writeFileSync } from 'node:fs';
import { envExample, withReadmeTable } from '../src/config-docs.js';

const envFile = new URL('../.env.example', import.meta.url);
const readmeFile = new URL('../README.md', import.meta.url);

writeFileSync(envFile, envExample());
writeFileSync(readmeFile, withReadmeTable(readFileSync(readmeFile, 'utf8')));
console.log('Wrote .env.example and the configuration table in README.md.');
