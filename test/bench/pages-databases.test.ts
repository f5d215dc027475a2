import { describe, expect, it } from 'vitest';
import { parseDatabases } from '../../bench/pages/database.js';

// bench:pages --databases: which databases a run measures, and in what order (a database
// measured later in a long run meets a machine that has been busy longer).
describe('bench:pages --databases', () => {
  it('keeps the order given', () => {
    expect(parseDatabases('postgres,sqlite')).toEqual(['postgres', 'sqlite']);
    expect(parseDatabases('sqlite, postgres')).toEqual(['sqlite', 'postgres']);
    expect(parseDatabases('postgres')).toEqual(['postgres']);
  });

  it('names what it does not know, or what is named twice', () => {
    expect(parseDatabases('sqlite,mysql')).toBe('--databases: "mysql" is not one of sqlite, postgres');
    expect(parseDatabases('')).toBe('--databases: "" is not one of sqlite, postgres');
    expect(parseDatabases('sqlite,sqlite')).toBe('--databases: "sqlite,sqlite" names a database twice');
  });
});
