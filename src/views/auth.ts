import type { FormFailure } from '../http/forms.js';
import { LIMITS } from '../modules/users/schemas.js';
import { field, formErrors } from './components.js';
import { html } from './html.js';
import { csrfField, type Page, type PageContext } from './layout.js';

/** What the user typed, shown again when a form comes back with an error. */
export interface FormValues {
  [name: string]: string | undefined;
}

export interface FormView {
  values: FormValues;
  failure?: FormFailure;
}

function signupForm(ctx: PageContext, action: string, submit: string, { values, failure }: FormView) {
  const errors = failure?.fields;
  return html`${formErrors(failure?.message)}
    <form method="post" action="${action}" class="stack card">
      ${csrfField(ctx)}
      ${field({ name: 'username', label: 'Username', value: values.username, errors, required: true, minlength: LIMITS.username.min, maxlength: LIMITS.username.max, autocomplete: 'username', hint: 'Letters, digits, _ and -. Your profile lives at /@username.' })}
      ${field({ name: 'displayName', label: 'Display name', value: values.displayName, errors, maxlength: LIMITS.displayName.max, autocomplete: 'name' })}
      ${field({ name: 'email', label: 'Email', type: 'email', value: values.email, errors, required: true, maxlength: LIMITS.email.max, autocomplete: 'email' })}
      ${field({ name: 'password', label: 'Password', type: 'password', errors, required: true, minlength: LIMITS.password.min, maxlength: LIMITS.password.max, autocomplete: 'new-password', hint: `At least ${LIMITS.password.min} characters.` })}
      <button type="submit">${submit}</button>
    </form>`;
}

export function loginPage({ values, failure }: FormView): Page {
  return {
    meta: { title: 'Log in', noindex: true },
    status: failure?.status ?? 200,
    body: (ctx) => html`<section class="narrow">
      <h1>Log in</h1>
      ${formErrors(failure?.message)}
      <form method="post" action="/login" class="stack card">
        ${csrfField(ctx)}
        <input type="hidden" name="next" value="${values.next ?? ''}">
        ${field({ name: 'login', label: 'Username or email', value: values.login, errors: failure?.fields, required: true, autocomplete: 'username' })}
        ${field({ name: 'password', label: 'Password', type: 'password', errors: failure?.fields, required: true, autocomplete: 'current-password' })}
        <button type="submit">Log in</button>
      </form>
      ${ctx.settings.registrationOpen ? html`<p class="muted">New here? <a href="/register">Create an account</a>.</p>` : ''}
    </section>`,
  };
}

export function registerPage(view: FormView): Page {
  return {
    meta: { title: 'Create an account', noindex: true },
    status: view.failure?.status ?? 200,
    body: (ctx) =>
      ctx.settings.registrationOpen
        ? html`<section class="narrow"><h1>Create an account</h1>
          ${signupForm(ctx, '/register', 'Create account', view)}
          <p class="muted">Already have one? <a href="/login">Log in</a>.</p></section>`
        : html`<section class="narrow"><h1>Registration is closed</h1><p>This site is not taking new accounts right now.</p></section>`,
  };
}

export function setupPage(view: FormView): Page {
  return {
    meta: { title: 'Set up your blog', noindex: true },
    status: view.failure?.status ?? 200,
    body: (ctx) => html`<section class="narrow">
      <h1>Set up your blog</h1>
      <p>Create the first account. It will be the site's administrator.</p>
      ${signupForm(ctx, '/setup', 'Create admin account', view)}
    </section>`,
  };
}
