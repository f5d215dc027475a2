/**
 * The one source of "now" for services; tests pass a fixed or stepping clock. Stored
 * times are ISO-8601 UTC text on both databases (see IsoTime), hence `iso()`.
 */
export interface Clock {
  now(): Date;
}

export const systemClock: Clock = { now: () => new Date() };

export const isoNow = (clock: Clock): string => clock.now().toISOString();
