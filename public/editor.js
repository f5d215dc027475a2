// Live preview for the post editor. The form works without it; this only adds the preview.
// The server renders and sanitises the Markdown (POST /api/v1/render), so the preview shows
// exactly what readers will see and inserting it is safe.
(() => {
  const body = document.querySelector('textarea[data-preview]');
  const form = document.getElementById('editor-form');
  if (!body || !form) return;
  const preview = document.getElementById(body.dataset.preview);
  const csrf = form.querySelector('input[name=_csrf]')?.value ?? '';
  let timer;
  let latest = 0;

  async function render() {
    const ticket = ++latest;
    try {
      const response = await fetch('/api/v1/render', {
        method: 'POST',
        credentials: 'same-origin',
        headers: { 'content-type': 'application/json', 'x-csrf-token': csrf },
        body: JSON.stringify({ markdown: body.value }),
      });
      if (!response.ok) return;
      const { html } = await response.json();
      // A slower earlier response must not overwrite a newer one.
      if (ticket === latest) preview.innerHTML = html;
    } catch {
      // Offline or server restarting: keep the last preview.
    }
  }

  body.addEventListener('input', () => {
    clearTimeout(timer);
    timer = setTimeout(render, 250);
  });
  if (body.value) render();
})();
