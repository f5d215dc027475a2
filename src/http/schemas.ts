import { type Static, type TSchema, Type } from 'typebox';

export const ErrorResponse = Type.Object(
  {
    error: Type.Object({
      code: Type.String({ description: 'stable, machine-readable' }),
      message: Type.String({ description: 'for a person' }),
      fields: Type.Optional(
        Type.Record(Type.String(), Type.String(), { description: 'field → what is wrong' }),
      ),
    }),
  },
  { $id: 'ErrorResponse', title: 'Error' },
);

const DESCRIPTIONS: Record<number, string> = {
  400: 'Invalid input; `fields` names each bad field',
  401: 'Not signed in, or a bad token',
  403: 'Signed in without permission, or CSRF check failed',
  404: 'Not found',
  409: 'Conflict: taken name, or an edit based on an old version',
  413: 'Request body too large',
  429: 'Too many attempts; see Retry-After',
};

/** Response schemas for the error statuses a route can return. */
export function errors(...statuses: number[]) {
  return Object.fromEntries(
    statuses.map((status) => [status, { ...ErrorResponse, description: DESCRIPTIONS[status] ?? 'Error' }]),
  );
}

export const NoContent = Type.Null({ description: 'No content' });
// Row ids are PostgreSQL `integer`s: a larger id in a URL must fail validation (400), not
// reach the query and fail there as a 500.
export const ID_MAX = 2_147_483_647;
export const IdParams = Type.Object({ id: Type.Integer({ minimum: 1, maximum: ID_MAX }) });

/**
 * A page number in a list. The cap keeps an absurd value (1e300) from reaching the database
 * as an OFFSET it cannot represent; no list here has a hundred thousand pages.
 */
export const PageNumber = Type.Integer({ minimum: 1, maximum: 100_000, default: 1 });

/** OpenAPI security for routes that need a signed-in user: a token or the session cookie. */
export const SIGNED_IN: { [scheme: string]: string[] }[] = [{ bearer: [] }, { session: [] }];

/**
 * The schema or null. Not a union: fast-json-stringify writes a union (anyOf) by running each
 * value through ajv against its branches (a date-time regex for every post of an API list:
 * with the post's status union, ~9 % of the list's CPU profile), and a list of types with `typeof`.
 */
export const Nullable = <T extends TSchema & { type: string }>(schema: T) =>
  Type.Unsafe<Static<T> | null>({ ...schema, type: [schema.type, 'null'] });

/** One of these strings, as an `enum` rather than a union of literals (as Nullable, and ajv's error lists them). */
export const OneOf = <const T extends readonly string[]>(values: T) =>
  Type.Unsafe<T[number]>({ type: 'string', enum: [...values] });

/** One page of a list: the items plus where this page sits in the whole. */
export const Paged = <T extends TSchema>(item: T) =>
  Type.Object({
    items: Type.Array(item),
    page: Type.Integer(),
    perPage: Type.Integer(),
    total: Type.Integer(),
    totalPages: Type.Integer(),
  });
