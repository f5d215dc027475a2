import type { SelectQueryBuilder } from 'kysely';

/** The rows one page covers, as the database counts them. */
export interface PageWindow {
  limit: number;
  offset: number;
}

export interface RowsAndTotal<T> {
  rows: T[];
  total: number;
}

/** One page of a list as the API returns it (see `Paged` in src/http/schemas.ts). */
export interface Paged<T> {
  items: T[];
  page: number;
  perPage: number;
  total: number;
  totalPages: number;
}

/**
 * One page of `base` and the number of rows it matches, queried in parallel. `rows` adds
 * the columns and the order; the count uses `base` alone, so both see the same joins and
 * conditions by construction.
 */
export async function pageWithTotal<DB, TB extends keyof DB, O>(
  base: SelectQueryBuilder<DB, TB, object>,
  rows: (base: SelectQueryBuilder<DB, TB, object>) => SelectQueryBuilder<DB, TB, O>,
  window: PageWindow,
): Promise<RowsAndTotal<O>> {
  const [items, count] = await Promise.all([
    rows(base).limit(window.limit).offset(window.offset).execute(),
    base
      .select((eb) => eb.fn.countAll<number | string>().as('total'))
      // Kysely cannot resolve the selection's type while DB and TB are type parameters.
      .$castTo<{ total: number | string }>()
      .executeTakeFirstOrThrow(),
  ]);
  // PostgreSQL returns count(*) as a bigint string, SQLite as a number.
  return { rows: items, total: Number(count.total) };
}

/**
 * The one place `totalPages` is computed. An empty list has 0 pages (the posts API has
 * always answered so, and tests pin it); page templates show no pager below 2 pages either way.
 */
export function toPage<T>(items: T[], page: number, perPage: number, total: number): Paged<T> {
  return { items, page, perPage, total, totalPages: Math.ceil(total / perPage) };
}
