import type { LlamaContextSequence, LlamaModel, Token } from 'node-llama-cpp';
import type { FinishReason, ProviderError, ProviderEvent, ProviderRequest } from './types.js';

/**
 * One answer being generated on one sequence of a llama.cpp context: the provider's loop hands
 * it each sampled token, and it turns them into the stream's events (text as it becomes
 * whole, stop strings held back and cut, the final `done` with usage).
 */
export class LlamaAnswer {
  readonly events: ProviderEvent[] = [];
  error?: ProviderError;
  finished = false;
  /** Tokens to evaluate next step: the unseen part of the prompt, then the last sampled token. */
  input: Token[] = [];
  completionTokens = 0;
  /** Sampled tokens not yet streamed: the first bytes of a character split over tokens. */
  private pending: Token[] = [];
  /** The tokens just before `pending`, so that the detokenizer spaces the next word right. */
  private recent: Token[];
  /** Text not yet streamed: it may be the start of a stop string. */
  private held = '';
  private wake?: () => void;

  constructor(
    private readonly model: LlamaModel,
    readonly sequence: LlamaContextSequence,
    readonly request: ProviderRequest,
    readonly promptTokens: Token[],
    readonly maxTokens: number,
    private readonly stopTokens: Set<Token>,
    private readonly stopTexts: string[],
  ) {
    this.recent = promptTokens.slice(-8);
  }

  next(): Promise<void> {
    return this.events.length || this.finished
      ? Promise.resolve()
      : new Promise((resolve) => (this.wake = resolve));
  }

  accept(token: Token | null | undefined): void {
    if (token === null || token === undefined || this.model.isEogToken(token) || this.stopTokens.has(token)) {
      this.flush();
      return this.finish('stop');
    }
    this.completionTokens++;
    this.pending.push(token);
    const last = this.completionTokens >= this.maxTokens;
    // A character split over byte tokens (CJK through byte fallback) decodes as U+FFFD until
    // its last byte arrives: hold it back rather than stream half a character.
    const text = this.model.detokenize(this.pending, false, this.recent);
    if (last || !text.endsWith('\uFFFD') || this.pending.length >= 4) this.flush(text);
    if (this.finished) return;
    if (last) this.finish('length');
    else this.input = [token];
  }

  private flush(
    text = this.pending.length ? this.model.detokenize(this.pending, false, this.recent) : '',
  ): void {
    this.recent = this.recent.concat(this.pending).slice(-8);
    this.pending = [];
    this.push(text);
  }

  private push(text: string): void {
    this.held += text;
    let cut = -1;
    for (const stop of this.stopTexts) {
      const at = this.held.indexOf(stop);
      if (at >= 0 && (cut < 0 || at < cut)) cut = at;
    }
    if (cut >= 0) {
      this.emit(this.held.slice(0, cut));
      this.held = '';
      return this.finish('stop');
    }
    // Keep back a tail that may be the start of a stop string, so it never reaches the caller.
    let keep = 0;
    for (const stop of this.stopTexts) {
      for (let size = Math.min(stop.length - 1, this.held.length); size > keep; size--) {
        if (this.held.endsWith(stop.slice(0, size))) keep = size;
      }
    }
    this.emit(this.held.slice(0, this.held.length - keep));
    this.held = this.held.slice(this.held.length - keep);
  }

  private emit(text: string): void {
    if (!text) return;
    this.events.push({ type: 'token', text });
    this.wake?.();
  }

  finish(reason: FinishReason): void {
    if (this.finished) return;
    if (reason !== 'cancelled' && this.held) this.emit(this.held);
    this.finished = true;
    this.events.push({
      type: 'done',
      model: this.request.model,
      usage: { promptTokens: this.promptTokens.length, completionTokens: this.completionTokens },
      finishReason: reason,
    });
    this.wake?.();
  }

  /** Ends the stream with an error instead of `done`. */
  fail(error: ProviderError): void {
    if (this.finished) return;
    this.finished = true;
    this.error = error;
    this.wake?.();
  }
}
