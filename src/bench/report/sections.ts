// One tab per results section: its headline cards, settings, charts and the tables under them.
// Each kind of test has its own module; this picks one and gives the tab its name.
import type { Section } from '../results.js';
import type { Labels } from './i18n.js';
import { path, type Tab } from './model.js';
import { cacheTab } from './section-cache.js';
import { Context } from './section-common.js';
import { concurrencyTab } from './section-concurrency.js';
import { loadTab } from './section-load.js';
import { ratioTab } from './section-ratio.js';

export function sectionTab(section: Section, run: number, index: number, L: Labels, runLabel: string): Tab {
  const id = `run${run}-section${index}`;
  const ctx = new Context(L, id, path('sections', index));
  const name = section.kind === 'ratio' ? `${L.ratio}: ${section.bench}` : L[section.kind];
  const content =
    section.kind === 'load'
      ? loadTab(section, ctx)
      : section.kind === 'cache'
        ? cacheTab(section, ctx)
        : section.kind === 'concurrency'
          ? concurrencyTab(section, ctx)
          : ratioTab(section, ctx);
  const warning = section.kind !== 'ratio' && section.interrupted ? L.interrupted : undefined;
  return { id, label: runLabel ? `${runLabel} · ${name}` : name, run, warning, ...content };
}
