import { html, type Interpolation, type SafeHtml } from './html.js';

/** Form field with its label and the error for that field, if any. */
export function field(options: {
  name: string;
  label: string;
  value?: string;
  type?: string;
  errors?: Record<string, string>;
  required?: boolean;
  maxlength?: number;
  minlength?: number;
  autocomplete?: string;
  hint?: string;
  textarea?: { rows: number };
  attrs?: SafeHtml;
}): SafeHtml {
  const error = options.errors?.[options.name];
  const id = `f-${options.name}`;
  const common = html`id="${id}"
  name="${options.name}"${options.required ? html` required` : ''}${
    options.maxlength ? html` maxlength="${options.maxlength}"` : ''
  }${options.minlength ? html` minlength="${options.minlength}"` : ''}${
    options.autocomplete ? html` autocomplete="${options.autocomplete}"` : ''
  }${error ? html` aria-invalid="true" aria-describedby="${id}-error"` : ''}
  ${options.attrs ?? ''}`;
  return html`<div class="field${error ? ' has-error' : ''}">
    <label for="${id}">${options.label}</label>
    ${
      options.textarea
        ? html`<textarea ${common} rows="${options.textarea.rows}">${options.value ?? ''}</textarea>`
        : html`<input type="${options.type ?? 'text'}" ${common} value="${options.value ?? ''}" />`
    }
    ${options.hint ? html`<small class="hint">${options.hint}</small>` : ''}
    ${error ? html`<small class="error" id="${id}-error">${error}</small>` : ''}
  </div>`;
}

export function formErrors(message: string | undefined): Interpolation {
  return message ? html`<div class="flash flash-error" role="alert">${message}</div>` : '';
}

export function pagination(page: number, totalPages: number, href: (page: number) => string): Interpolation {
  if (totalPages <= 1) return '';
  return html`<nav class="pagination" aria-label="Pages">
    ${page > 1 ? html`<a rel="prev" href="${href(page - 1)}">← Newer</a>` : html`<span></span>`}
    <span class="muted">Page ${page} of ${totalPages}</span>
    ${page < totalPages ? html`<a rel="next" href="${href(page + 1)}">Older →</a>` : html`<span></span>`}
  </nav>`;
}

const DATE = new Intl.DateTimeFormat('en-GB', {
  day: 'numeric',
  month: 'long',
  year: 'numeric',
  timeZone: 'UTC',
});

const FORMATTED = new Map<string, string>();
const FORMATTED_MAX = 10_000;

/** Dates show in UTC, so every reader and every server renders the same page. */
export function formatDate(iso: string | null | undefined): string {
  if (!iso) return '';
  // Intl's format costs microseconds, and a list formats the same few dates on every render.
  let formatted = FORMATTED.get(iso);
  if (formatted === undefined) {
    if (FORMATTED.size >= FORMATTED_MAX) FORMATTED.clear();
    formatted = DATE.format(new Date(iso));
    FORMATTED.set(iso, formatted);
  }
  return formatted;
}

export function time(iso: string | null | undefined): Interpolation {
  return iso ? html`<time datetime="${iso}">${formatDate(iso)}</time>` : '';
}
