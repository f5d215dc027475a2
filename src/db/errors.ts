/**
 * True for the error a unique index raises on either database, e.g. a slug or a username
 * taken by a concurrent request between the check and the insert. Matched by code, not by
 * message: messages differ between drivers and versions.
 */
export function isUniqueViolation(error: unknown): boolean {
  const code = (error as { code?: unknown } | null)?.code;
  return code === '23505' || code === 'SQLITE_CONSTRAINT_UNIQUE' || code === 'SQLITE_CONSTRAINT_PRIMARYKEY';
}
