// How the report writes a number. The same rules run in the page (the chart's legend), so a
// figure reads the same under the cursor as in the table; client.ts carries a copy of fmt().

export type Unit = 'ms' | 'rate' | 'percent' | 'ratio' | 'count' | 's';

/** Decimals that keep about three significant digits without printing noise. */
function decimals(x: number): number {
  const a = Math.abs(x);
  if (a === 0 || a >= 100) return 0;
  if (a >= 10) return 1;
  if (a >= 1) return 2;
  return 3;
}

function grouped(x: number, digits: number): string {
  return x.toLocaleString('en-US', { minimumFractionDigits: digits, maximumFractionDigits: digits });
}

export function formatNumber(value: number, unit: Unit): string {
  switch (unit) {
    case 'count':
      return grouped(value, 0);
    case 'percent': {
      const pct = value * 100;
      return `${grouped(pct, pct === 0 ? 0 : Math.min(2, Math.max(1, decimals(pct))))}%`;
    }
    case 'ratio':
      return `${grouped(value, 2)}×`;
    case 'rate':
      return grouped(value, Math.min(1, decimals(value)));
    case 's':
      return grouped(value, Math.min(1, decimals(value)));
    case 'ms':
      return grouped(value, decimals(value));
  }
}

/** Bytes for people: 15.6 GiB. */
export function formatBytes(bytes: number): string {
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
  let value = bytes;
  let i = 0;
  while (value >= 1024 && i < units.length - 1) {
    value /= 1024;
    i++;
  }
  return `${value.toFixed(i === 0 ? 0 : 1)} ${units[i]}`;
}

/** An ISO time as 'YYYY-MM-DD HH:MM:SS UTC': the reader and the machine may be in different zones. */
export function formatTime(iso: string): string {
  const date = new Date(iso);
  if (Number.isNaN(date.getTime())) return iso;
  return `${date.toISOString().slice(0, 19).replace('T', ' ')} UTC`;
}
