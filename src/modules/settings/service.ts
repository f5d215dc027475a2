import type { CacheNamespace } from '../../cache/cache.js';
import { noPageCache, type PageInvalidator, pageTags } from '../../cache/page-cache.js';
import { type Static, Type } from 'typebox';
import { fieldError } from '../../errors.js';
import { type Actor, authorize } from '../access/permissions.js';
import type { SettingsRepository } from './repository.js';

export const SiteSettings = Type.Object({
  siteTitle: Type.String({ minLength: 1, maxLength: 100 }),
  siteDescription: Type.String({ maxLength: 300 }),
  registrationOpen: Type.Boolean({ description: 'whether visitors may create accounts' }),
});
export type SiteSettings = Static<typeof SiteSettings>;
export const SettingsUpdate = Type.Partial(SiteSettings, { additionalProperties: false });
export type SettingsUpdate = Static<typeof SettingsUpdate>;

// Writes invalidate at once; the TTL only bounds what a lost invalidation could leave.
const SETTINGS_TTL_MS = 3_600_000;
// How long a read is reused without asking the cache: bounds a lost invalidation's reach
// the same way, only shorter.
const SETTINGS_HOLD_MS = 60_000;

const DEFAULTS: SiteSettings = {
  siteTitle: 'Inkstone',
  siteDescription: 'Notes, essays and drafts, written with care.',
  registrationOpen: true,
};

/**
 * Site settings live in a key/value table as JSON; unknown keys are ignored. Every page
 * shows them, so they are read once and kept in memory, and re-read after each write. With
 * the cache module they are kept in it instead (its L1 is in memory too), so another
 * instance's write reaches this one through the cache bus.
 */
export class SettingsService {
  private current?: Promise<SiteSettings>;
  /** The last read through the cache, and the tag clock's mark taken before it. */
  private held?: { mark: number; value: Promise<SiteSettings>; expires: number };

  constructor(
    private readonly repo: SettingsRepository,
    private readonly pages: PageInvalidator = noPageCache,
    private readonly store?: CacheNamespace,
  ) {}

  get(): Promise<SiteSettings> {
    const { store } = this;
    if (store) {
      // Every page reads the settings: a cache read for each (a clone of the L1 entry, a
      // tenth of a signed-in page's CPU) is kept for as long as no tag was invalidated
      // anywhere since (the tag clock's mark) and the invalidation channel is up.
      const mark = store.mark();
      const held = this.held;
      if (held && held.mark === mark && store.inSync() && held.expires > Date.now()) return held.value;
      const value = store
        .getOrSet('site', () => this.load(), { ttlMs: SETTINGS_TTL_MS, tags: [pageTags.site], grace: false })
        .then((settings) => Object.freeze(settings));
      const entry = { mark, value, expires: Date.now() + SETTINGS_HOLD_MS };
      this.held = entry;
      value.catch(() => {
        if (this.held === entry) this.held = undefined;
      });
      return value;
    }
    return (this.current ??= this.reload());
  }

  private reload(): Promise<SiteSettings> {
    const loading = this.load();
    this.current = loading;
    // A failed read is not remembered: the next page tries the database again.
    loading.catch(() => {
      if (this.current === loading) this.current = undefined;
    });
    return loading;
  }

  private async load(): Promise<SiteSettings> {
    const rows = await this.repo.all();
    const settings: SiteSettings = { ...DEFAULTS };
    for (const { key, value } of rows) {
      if (key in DEFAULTS) Object.assign(settings, { [key]: JSON.parse(value) });
    }
    return settings;
  }

  async update(actor: Actor | null, patch: SettingsUpdate): Promise<SiteSettings> {
    authorize(actor, 'settings:manage');
    const entries = Object.entries(patch)
      .filter(([key, value]) => key in DEFAULTS && value !== undefined)
      .map(([key, value]) => [key, typeof value === 'string' ? value.trim() : value] as const);
    // The schema checked the length before trimming; a title of spaces is still no title.
    if (entries.some(([key, value]) => key === 'siteTitle' && value === '')) {
      throw fieldError('siteTitle', 'siteTitle must not be empty');
    }
    await this.repo.upsert(entries.map(([key, value]) => [key, JSON.stringify(value)]));
    if (this.store) {
      this.held = undefined;
      await this.store.deleteByTag([pageTags.site]);
    } else {
      await this.reload();
    }
    await this.pages.invalidate([pageTags.site]);
    return this.get();
  }
}
