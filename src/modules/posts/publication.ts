import type { IsoTime, PostStatus } from '../../db/types.js';
import { fieldError } from '../../errors.js';
import { parseTime } from './post-input.js';
import type { ApiPostStatus } from './schemas.js';

// The publication rules. The API knows three states; the database stores two: 'scheduled'
// is a published post whose published_at is still in the future, so it goes out on time
// with no job to flip it. Every rule takes `now`, so a test's clock decides.

export interface Publication {
  status: PostStatus;
  published_at: IsoTime | null;
}

type Stored = Pick<Publication, 'status' | 'published_at'>;

export function apiStatus(row: Stored, now: IsoTime): ApiPostStatus {
  if (row.status === 'draft') return 'draft';
  return row.published_at !== null && row.published_at > now ? 'scheduled' : 'published';
}

/** Whether anyone, signed in or not, may read the post. */
export function isVisible(row: Stored, now: IsoTime): boolean {
  return apiStatus(row, now) === 'published';
}

/** What publishing at `at` means: scheduled if it is still ahead, published (now or backdated) if not. */
export function statusAt(at: IsoTime | undefined, now: IsoTime): 'published' | 'scheduled' {
  return at !== undefined && at > now ? 'scheduled' : 'published';
}

/** Maps the API status (and time, if given) to the stored one, given the post as it is now, if any. */
export function publication(
  status: ApiPostStatus,
  publishedAt: string | undefined,
  now: IsoTime,
  current?: Stored,
): Publication {
  const at = publishedAt === undefined ? undefined : parseTime(publishedAt);
  if (status === 'draft') return { status: 'draft', published_at: null };
  if (status === 'published') {
    if (at !== undefined) return { status: 'published', published_at: at };
    // A post already out keeps its date; a draft or a scheduled post goes out now.
    const keep =
      current?.status === 'published' && current.published_at !== null && current.published_at <= now;
    return { status: 'published', published_at: keep ? current.published_at : now };
  }
  const scheduledAt =
    at ?? (current && apiStatus(current, now) === 'scheduled' ? current.published_at : null);
  if (scheduledAt === null) throw fieldError('publishedAt', 'Choose when the post should be published.');
  if (scheduledAt <= now) throw fieldError('publishedAt', 'A scheduled time must be in the future.');
  return { status: 'published', published_at: scheduledAt };
}
