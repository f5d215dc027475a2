// The writing assistant in the post editor: asks POST /api/v1/ai/write and shows the answer
// as it streams (Server-Sent Events over fetch, so the request can carry a JSON body and the
// CSRF header). Stop aborts the request, which ends the model call on the server. The answer
// is plain text in a textarea until the author accepts it into a field; the server sanitises
// the Markdown like any other when the post is rendered.
(() => {
  const panel = document.getElementById('ai-panel');
  const form = document.getElementById('editor-form');
  if (!panel || !form || !window.fetch || !window.TextDecoder) return;
  panel.hidden = false;

  const csrf = form.querySelector('input[name=_csrf]')?.value ?? '';
  const field = (name) => form.querySelector(`[name=${name}]`);
  const result = panel.querySelector('.ai-result');
  const output = panel.querySelector('#ai-output');
  const status = panel.querySelector('.ai-status');
  const instruction = panel.querySelector('#ai-instruction');
  const button = (name) => panel.querySelector(`[data-ai=${name}]`);

  let controller = null;
  let last = null; // { kind, payload, target }

  function say(text, isError = false) {
    status.textContent = text;
    status.classList.toggle('error', isError);
  }

  function setBusy(busy) {
    result.classList.toggle('streaming', busy);
    output.readOnly = busy;
    button('stop').disabled = !busy;
    button('accept').disabled = busy || !output.value;
    button('regenerate').disabled = busy || !last;
    for (const b of panel.querySelectorAll('[data-ai-kind]')) b.disabled = busy;
  }

  /** What a task works on, and where its answer goes when accepted. */
  function request(kind) {
    const body = field('body');
    const title = field('title').value;
    const [start, end] = [body.selectionStart, body.selectionEnd];
    const selected = body.value.slice(start, end);
    switch (kind) {
      case 'draft':
        return {
          payload: { title, text: body.value },
          target: { field: 'body', replace: [0, body.value.length] },
        };
      case 'continue':
        return {
          payload: { title, text: body.value.slice(0, end) },
          target: { field: 'body', replace: [end, end], separator: true },
        };
      case 'rewrite':
      case 'polish':
        if (!selected.trim()) return { error: 'Select the text to ' + kind + ' in the body first.' };
        return {
          payload: { title, text: selected, instruction: kind === 'rewrite' ? instruction.value : undefined },
          target: { field: 'body', replace: [start, end] },
        };
      case 'summarize':
        return { payload: { title, text: body.value }, target: { field: 'excerpt', replace: 'all' } };
      case 'titles':
        return { payload: { title, text: body.value }, target: { field: 'title', firstLine: true } };
      case 'tags':
        return { payload: { title, text: body.value }, target: { field: 'tags', replace: 'all' } };
    }
    return { error: 'Unknown task.' };
  }

  /** Reads an event stream: calls onEvent(type, data) for each whole event. */
  async function readEvents(response, onEvent) {
    const reader = response.body.getReader();
    const decoder = new TextDecoder();
    let buffer = '';
    for (;;) {
      const { value, done } = await reader.read();
      if (done) break;
      buffer += decoder.decode(value, { stream: true });
      let end;
      while ((end = buffer.indexOf('\n\n')) >= 0) {
        const frame = buffer.slice(0, end);
        buffer = buffer.slice(end + 2);
        let type = 'message';
        const data = [];
        for (const line of frame.split('\n')) {
          if (line.startsWith('event: ')) type = line.slice(7);
          else if (line.startsWith('data: ')) data.push(line.slice(6));
        }
        if (data.length) onEvent(type, JSON.parse(data.join('\n')));
      }
    }
  }

  async function run(kind, regenerate = false) {
    const task = regenerate && last ? last : { kind, ...request(kind) };
    if (task.error) {
      result.hidden = false;
      output.value = '';
      say(task.error, true);
      return;
    }
    last = task;
    controller = new AbortController();
    result.hidden = false;
    output.value = '';
    say('Writing…');
    setBusy(true);
    let finished = false;
    try {
      const response = await fetch('/api/v1/ai/write', {
        method: 'POST',
        credentials: 'same-origin',
        headers: { 'content-type': 'application/json', 'x-csrf-token': csrf },
        body: JSON.stringify({ kind: task.kind, ...task.payload, regenerate }),
        signal: controller.signal,
      });
      if (!response.ok) {
        const problem = await response.json().catch(() => null);
        const fields = problem?.error?.fields ? Object.values(problem.error.fields).join('; ') : '';
        say(fields || problem?.error?.message || `The assistant answered ${response.status}.`, true);
        return;
      }
      await readEvents(response, (type, data) => {
        if (type === 'token') {
          output.value += data.text;
          output.scrollTop = output.scrollHeight;
        } else if (type === 'notice') {
          say(data.message);
        } else if (type === 'done') {
          finished = true;
          const tokens = data.usage.completionTokens;
          say(
            `Written by ${data.model}${data.cached ? ' (from the cache)' : ''} · ${tokens} tokens. Edit it here, then accept or discard.`,
          );
        } else if (type === 'error') {
          finished = true;
          say(data.message + (data.partial ? ' The text above is incomplete.' : ''), true);
        }
      });
      if (!finished) say('The connection ended before the answer did. Regenerate to try again.', true);
    } catch (error) {
      if (error.name === 'AbortError') say('Stopped. Keep what was written, or regenerate.');
      else say('Could not reach the server: ' + error.message, true);
    } finally {
      controller = null;
      setBusy(false);
    }
  }

  function accept() {
    if (!last || !output.value) return;
    const { target } = last;
    const input = field(target.field);
    let text = output.value;
    if (target.firstLine)
      text =
        text
          .split('\n')
          .map((l) => l.replace(/^[-*\d.)\s"“]+|["”]+$/g, '').trim())
          .find(Boolean) ?? '';
    if (target.replace === 'all' || target.firstLine) {
      input.value = text.trim();
    } else {
      const [start, end] = target.replace;
      const before = input.value.slice(0, start);
      const joiner = target.separator && before && !before.endsWith('\n') ? '\n\n' : '';
      input.value = before + joiner + text + input.value.slice(end);
    }
    // Tells the live preview (and anything else listening) that the field changed.
    input.dispatchEvent(new Event('input', { bubbles: true }));
    discard();
    input.focus();
  }

  function discard() {
    controller?.abort();
    output.value = '';
    result.hidden = true;
    say('');
  }

  for (const b of panel.querySelectorAll('[data-ai-kind]')) {
    b.addEventListener('click', () => run(b.dataset.aiKind));
  }
  button('stop').addEventListener('click', () => controller?.abort());
  button('regenerate').addEventListener('click', () => last && run(last.kind, true));
  button('accept').addEventListener('click', accept);
  button('discard').addEventListener('click', discard);
  output.addEventListener('input', () => {
    button('accept').disabled = !output.value;
  });
})();
