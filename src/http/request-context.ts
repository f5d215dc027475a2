import { randomBytes, timingSafeEqual } from 'node:crypto';
import type {} from '@fastify/cookie';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import type { Config } from '../config.js';
import { AppError, unauthorized } from '../errors.js';
import type { Actor } from '../modules/access/permissions.js';
import { type AuthService, SESSION_DAYS } from '../modules/auth/service.js';
import type { Flash } from '../views/layout.js';

export const SESSION_COOKIE = 'inkstone_session';
export const CSRF_COOKIE = 'inkstone_csrf';
export const FLASH_COOKIE = 'inkstone_flash';

declare module 'fastify' {
  interface FastifyRequest {
    actor: Actor | null;
    /** How the actor was recognised: a browser session cookie, or an API token. */
    authMethod: 'session' | 'token' | null;
  }
  interface FastifyReply {
    /**
     * The CSRF token for a form or a JSON client to send back; sets its cookie when the
     * visitor has none. Call it only where a form needs it (see registerRequestContext).
     */
    csrfToken(): string;
    flash(kind: Flash['kind'], text: string): FastifyReply;
    /** Starts a new session for the user and sets its cookie. */
    signIn(userId: number): Promise<void>;
    endSession(): FastifyReply;
  }
}

const UNSAFE = new Set(['POST', 'PUT', 'PATCH', 'DELETE']);

function sameToken(a: string, b: string): boolean {
  const left = Buffer.from(a);
  const right = Buffer.from(b);
  return left.length === right.length && timingSafeEqual(left, right);
}

/** A token from the cookie, when it is one this server could have issued. */
function cookieToken(request: FastifyRequest): string | undefined {
  const token = request.cookies[CSRF_COOKIE];
  return token && token.length >= 20 ? token : undefined;
}

/**
 * Recognises the caller on every request (Bearer token or session cookie) and guards
 * state-changing requests against CSRF with a double-submit token: the form field or
 * x-csrf-token header must equal the HttpOnly cookie. Token-authenticated API calls and
 * cookie-less JSON calls are exempt.
 *
 * The cookie is issued only when a response carries a token (a form's hidden field, the
 * login API's answer): an anonymous reader's pages set no cookie, so a shared cache may
 * store them. Every unsafe request still needs a cookie and a matching token, so a visitor
 * with no cookie cannot post anything, which is no loss: they have seen no form.
 */
export function registerRequestContext(app: FastifyInstance, config: Config, auth: AuthService): void {
  const cookieOptions = { path: '/', httpOnly: true, sameSite: 'lax' as const, secure: config.cookieSecure };

  app.decorateRequest('actor', null);
  app.decorateRequest('authMethod', null);
  // The token this response issued or confirmed, so a page with many forms sets one cookie.
  const issued = new WeakMap<FastifyReply, string>();
  app.decorateReply('csrfToken', function (this: FastifyReply) {
    let token = issued.get(this) ?? cookieToken(this.request);
    if (!token) {
      token = randomBytes(24).toString('base64url');
      this.setCookie(CSRF_COOKIE, token, { ...cookieOptions, maxAge: 365 * 86_400 });
    }
    issued.set(this, token);
    return token;
  });
  app.decorateReply('flash', function (this: FastifyReply, kind: Flash['kind'], text: string) {
    return this.setCookie(FLASH_COOKIE, JSON.stringify({ kind, text }), {
      ...cookieOptions,
      signed: true,
      maxAge: 60,
    });
  });
  app.decorateReply('signIn', async function (this: FastifyReply, userId: number) {
    const token = await auth.createSession(userId, this.request.headers['user-agent'] ?? '');
    // Not `return this`: a reply is thenable (it settles when sent), so an async function
    // returning it would wait for the response it is still building.
    this.setCookie(SESSION_COOKIE, token, { ...cookieOptions, maxAge: SESSION_DAYS * 86_400 });
  });
  app.decorateReply('endSession', function (this: FastifyReply) {
    return this.clearCookie(SESSION_COOKIE, { path: '/' });
  });

  // A callback hook: a request without credentials (most of them) costs no promise.
  app.addHook('onRequest', (request, reply, done) => {
    // Stylesheets and scripts are the same for everyone: no session lookup (a database
    // query) for each of them on every page view.
    if (request.url.startsWith('/static/')) return done();
    const header = request.headers.authorization;
    if (header?.toLowerCase().startsWith('bearer ')) {
      auth.resolveToken(header.slice(7).trim()).then((actor) => {
        if (!actor) return done(unauthorized('The API token is invalid or revoked.'));
        request.actor = actor;
        request.authMethod = 'token';
        done();
      }, done);
      return;
    }
    const session = request.cookies[SESSION_COOKIE];
    if (!session) return done();
    auth.resolveSession(session).then((actor) => {
      request.actor = actor;
      if (actor) request.authMethod = 'session';
      else reply.endSession();
      done();
    }, done);
  });

  // After parsing (the form field is in the body), before schema validation strips it.
  app.addHook('preValidation', async (request) => {
    if (!UNSAFE.has(request.method) || request.authMethod === 'token') return;
    // Media types are case-insensitive (and Fastify's parsers treat them so): compare the bare,
    // lower-cased type. Only a JSON body with no session cookie is exempt, because a browser
    // cannot send one cross-site without a CORS preflight, which this server never grants.
    const type = (request.headers['content-type'] ?? '').split(';')[0]?.trim().toLowerCase();
    if (type === 'application/json' && request.authMethod !== 'session') return;
    const body = request.body as Record<string, unknown> | undefined;
    const sent =
      (typeof body?._csrf === 'string' ? body._csrf : undefined) ?? request.headers['x-csrf-token'];
    const expected = cookieToken(request);
    if (typeof sent !== 'string' || !expected || !sameToken(sent, expected)) {
      throw new AppError(
        403,
        'csrf_failed',
        'The form expired or came from another site. Reload the page and try again.',
      );
    }
  });
}

/** The flash message left by the previous redirect; reading it clears it. */
export function takeFlash(request: FastifyRequest, reply: FastifyReply): Flash | null {
  const raw = request.cookies[FLASH_COOKIE];
  if (!raw) return null;
  reply.clearCookie(FLASH_COOKIE, { path: '/' });
  const unsigned = request.unsignCookie(raw);
  if (!unsigned.valid || !unsigned.value) return null;
  try {
    return JSON.parse(unsigned.value) as Flash;
  } catch {
    return null;
  }
}
