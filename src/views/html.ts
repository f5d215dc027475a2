/**
 * Escaped-by-default HTML templates: every interpolated value is escaped unless it is
 * already SafeHtml (produced by `html` itself, or by `raw` for sanitised Markdown output).
 */
export class SafeHtml {
  constructor(readonly value: string) {}
  toString(): string {
    return this.value;
  }
}

export type Interpolation =
  string | number | boolean | null | undefined | SafeHtml | readonly Interpolation[];

const ESCAPES: Record<string, string> = {
  '&': '&amp;',
  '<': '&lt;',
  '>': '&gt;',
  '"': '&quot;',
  "'": '&#39;',
};

const SPECIAL = /[&<>"']/;

export function escapeHtml(text: string): string {
  // Most values (titles, names, dates, paths) have nothing to escape: a test is cheaper than
  // a replace that calls back for every match.
  return SPECIAL.test(text) ? text.replace(/[&<>"']/g, (ch) => ESCAPES[ch] ?? ch) : text;
}

function render(value: Interpolation): string {
  if (value === null || value === undefined || value === false) return '';
  if (value instanceof SafeHtml) return value.value;
  if (Array.isArray(value)) return value.map(render).join('');
  return escapeHtml(String(value));
}

// An interpolation that opens a URL attribute's value: `href="${url}"`.
const URL_ATTRIBUTE = /\s(?:href|src|action|formaction|poster|cite)=["']?$/i;

/**
 * Escapes every value; a plain string that starts a URL attribute's value also goes through
 * safeUrl, so no template can link a `javascript:` URL however the URL was built.
 */
export function html(strings: TemplateStringsArray, ...values: Interpolation[]): SafeHtml {
  const urls = urlSlots(strings);
  let out = strings[0] ?? '';
  for (let i = 0; i < values.length; i++) {
    const value = values[i];
    out += render(urls[i] && typeof value === 'string' ? safeUrl(value) : value) + (strings[i + 1] ?? '');
  }
  return new SafeHtml(out);
}

// A template's strings are one frozen array per call site, for the life of the process:
// which of its values open a URL attribute is worked out once per template, not per render.
const URL_SLOTS = new WeakMap<TemplateStringsArray, boolean[]>();

function urlSlots(strings: TemplateStringsArray): boolean[] {
  let slots = URL_SLOTS.get(strings);
  if (!slots) {
    slots = strings.map((text) => URL_ATTRIBUTE.test(text));
    URL_SLOTS.set(strings, slots);
  }
  return slots;
}

/** Marks trusted HTML (sanitised Markdown output, JSON-LD we built) as safe to insert. */
export const raw = (trusted: string) => new SafeHtml(trusted);

const SLASH = '/'.charCodeAt(0);
const QUESTION = '?'.charCodeAt(0);
const HASH = '#'.charCodeAt(0);

// Schemes a link may use; anything else (javascript:, data:, vbscript:, …) is dropped.
const SAFE_SCHEMES = new Set(['http:', 'https:', 'mailto:']);

/**
 * A URL for an href/src attribute. Escaping stops a value from leaving the attribute but not
 * a `javascript:` URL from running on click, so a URL with any other scheme becomes "#".
 * Relative URLs (paths, queries, fragments) pass; browsers ignore tabs, newlines and
 * leading spaces in a scheme, so those are removed before the check.
 */
export function safeUrl(url: string): string {
  // Nearly every URL a page links is a path, a query or a fragment: its first character is
  // never stripped below, and a scheme must start with a letter, so it cannot be one.
  const first = url.charCodeAt(0);
  if (first === SLASH || first === QUESTION || first === HASH) return url;
  // eslint-disable-next-line no-control-regex -- control characters are exactly what is stripped
  const bare = url.replace(/[\u0000-\u0020\u007f]+/g, '');
  const scheme = /^([a-z][a-z0-9+.-]*):/i.exec(bare)?.[1];
  if (scheme === undefined) return url;
  return SAFE_SCHEMES.has(`${scheme.toLowerCase()}:`) ? url : '#';
}
