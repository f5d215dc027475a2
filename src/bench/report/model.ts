// What the page shows, before it is HTML: tabs of charts and tables built from the results.
// A chart and the table under it are built from the same numbers, and every number cell keeps
// the path of the field it came from in results.json (`sections.0.levels.2.endpoints.1.latency.p99`),
// so a test can check each figure against the file and a reader can find it there.
import { formatNumber, type Unit } from './format.js';

export interface Cell {
  text: string;
  /** Number cells: the value as in the file, and where it is in the file. */
  value?: number;
  path?: string;
  unit?: Unit;
  /** A short tag after the value ('stopped early'), and whether it is bad news. */
  badge?: string;
  bad?: boolean;
  /** Long text that wraps instead of widening the table. */
  wrap?: boolean;
}

export interface Table {
  columns: string[];
  rows: Cell[][];
}

export interface Series {
  label: string;
  values: (number | null)[];
}

export interface Chart {
  id: string;
  title: string;
  type: 'line' | 'bars';
  unit: Unit;
  xLabel: string;
  yLabel: string;
  /** Bar charts: one category per x (0, 1, 2, …). */
  categories?: string[];
  x: number[];
  logX?: boolean;
  logY?: boolean;
  series: Series[];
  /** Single-series bars: a colour per bar for good or bad news (a goal met or missed). */
  marks?: ('good' | 'bad' | null)[];
}

export interface Block {
  title: string;
  charts: Chart[];
  table: Table;
  note?: string;
}

export interface Card {
  label: string;
  value: string;
  detail?: string;
}

export interface Tab {
  id: string;
  label: string;
  /** Index of the results file (several can be given to `bench report`). */
  run: number;
  warning?: string;
  cards: Card[];
  settings: [string, string][];
  notes: string[];
  blocks: Block[];
}

/** A number cell: the value from the file at `path`, written for people. */
export function num(value: number, unit: Unit, path: string, badge?: string, bad?: boolean): Cell {
  return { text: formatNumber(value, unit), value, unit, path, badge, bad };
}

/** A number cell for a value that may be missing (null: "—"). */
export function maybeNum(value: number | null | undefined, unit: Unit, path: string): Cell {
  return value === null || value === undefined ? text('—') : num(value, unit, path);
}

export const text = (value: string, badge?: string, bad?: boolean): Cell => ({ text: value, badge, bad });

/** 'sections.0.levels.2' from ('sections', 0, 'levels', 2). */
export const path = (...keys: (string | number)[]): string => keys.join('.');

/** Whether values spread over enough decades that a linear axis would hide the small ones. */
export function wideRange(values: readonly (number | null)[], factor = 30): boolean {
  const positive = values.filter((x): x is number => x !== null && x > 0);
  if (positive.length < 2) return false;
  return Math.max(...positive) / Math.min(...positive) >= factor;
}
