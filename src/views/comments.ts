import { time } from './components.js';
import { html, raw } from './html.js';
import { csrfField, type PageContext } from './layout.js';
import { can, canDeleteComment } from '../modules/access/permissions.js';
import type { Post } from '../modules/posts/schemas.js';
import { COMMENT_MAX, type Comment } from '../modules/comments/schemas.js';

function commentActions(ctx: PageContext, comment: Comment, back: string) {
  const actions = [];
  if (can(ctx.actor, 'comment:moderate')) {
    const to = comment.status === 'hidden' ? 'show' : 'hide';
    actions.push(html`<form method="post" action="/comments/${comment.id}/${to}" class="inline">${csrfField(ctx)}
      <input type="hidden" name="next" value="${back}"><button class="link">${to === 'hide' ? 'Hide' : 'Show'}</button></form>`);
  }
  if (canDeleteComment(ctx.actor, { authorId: comment.author.id })) {
    actions.push(html`<form method="post" action="/comments/${comment.id}/delete" class="inline">${csrfField(ctx)}
      <input type="hidden" name="next" value="${back}"><button class="link danger">Delete</button></form>`);
  }
  return actions.length ? html`<div class="comment-actions">${actions}</div>` : '';
}

export function commentSection(ctx: PageContext, post: Post, comments: Comment[]) {
  const visible = comments.filter((c) => c.status === 'visible').length;
  return html`<section class="comments" id="comments">
    <h2>${visible} ${visible === 1 ? 'comment' : 'comments'}</h2>
    ${comments.map(
      (
        comment,
      ) => html`<article class="comment${comment.status === 'hidden' ? ' is-hidden' : ''}" id="comment-${comment.id}">
        <div class="comment-head">
          <strong><a href="/@${encodeURIComponent(comment.author.username)}">${comment.author.displayName}</a></strong>
          ${time(comment.createdAt)}
          ${comment.status === 'hidden' ? html`<span class="badge badge-hidden">hidden</span>` : ''}
        </div>
        <div class="comment-body">${raw(comment.bodyHtml)}</div>
        ${commentActions(ctx, comment, `${post.url}#comments`)}
      </article>`,
    )}
    ${
      post.status !== 'published'
        ? html`<p class="muted">Comments open when the post is published.</p>`
        : ctx.actor
          ? html`<form method="post" action="/posts/${post.id}/comments" class="stack card" id="comment-form">
              ${csrfField(ctx)}
              <div class="field">
                <label for="comment-body">Add a comment</label>
                <textarea id="comment-body" name="body" rows="4" required maxlength="${COMMENT_MAX}"></textarea>
                <small class="hint">Markdown-lite: *emphasis*, **strong**, \`code\`, links and lists.</small>
              </div>
              <button type="submit">Post comment</button>
            </form>`
          : html`<p><a href="/login?next=${encodeURIComponent(`${post.url}#comment-form`)}">Log in</a> to comment.</p>`
    }
  </section>`;
}
