// What the fake model server says, and how it cuts that into tokens. Pure functions, exported
// so a test can predict every token, every count and every prefill continuation exactly.

export interface FakeChatMessage {
  role: string;
  content: string;
}

/** Produces the whole answer for a conversation (without any assistant prefill). */
export type ReplyFn = (messages: FakeChatMessage[], model: string) => string;

// Han, kana, Hangul and the CJK and full-width punctuation blocks: one character, one token,
// roughly what real tokenizers do for Chinese and what makes a Chinese draft stream visibly.
const CJK = String.raw`\p{Script=Han}\p{Script=Hiragana}\p{Script=Katakana}\p{Script=Hangul}\u3000-\u303f\uff00-\uffef`;
const TOKEN = new RegExp(String.raw`\s*(?:[${CJK}]|[^\s${CJK}]+)|\s+`, 'gu');
const HAS_CJK = new RegExp(`[${CJK}]`, 'u');

/**
 * Words with their leading whitespace, and each CJK character on its own. The tokens joined
 * give back the text exactly: `tokenize(t).join('') === t`.
 */
export function tokenize(text: string): string[] {
  return text.match(TOKEN) ?? [];
}

/** The input size the fake reports: the tokens of every message's content, summed. */
export function countPromptTokens(messages: readonly FakeChatMessage[]): number {
  return messages.reduce((sum, message) => sum + tokenize(message.content).length, 0);
}

/**
 * "Echo: <last user message>" and a few fixed sentences; in Chinese when the user wrote
 * Chinese, so a draft follows the title's language as the real pipeline expects.
 */
export const defaultReply: ReplyFn = (messages) => {
  const text =
    [...messages]
      .reverse()
      .find((m) => m.role === 'user')
      ?.content.trim() ?? '';
  if (HAS_CJK.test(text)) {
    return `回声：${text}。这是模拟模型服务器的回答，逐字输出，方便测试预测每一个词元。结束。`;
  }
  return (
    `Echo: ${text}\n\nThis is a simulated answer from the fake model server. ` +
    'It streams one word at a time, so a test can predict every token. The end.'
  );
};

export interface AnswerPlan {
  tokens: string[];
  finishReason: 'stop' | 'length';
  /** The assistant text the request ended with, if any: the answer continues it. */
  prefill: string | undefined;
  promptTokens: number;
}

/**
 * The tokens to send. A trailing assistant message is a prefill: the answer is the rest of
 * the full reply after it (a model that cannot match the prefix starts the reply afresh,
 * which a test of failover will notice). `maxTokens` below 0 means no limit, as Ollama's -1.
 */
export function planAnswer(
  messages: readonly FakeChatMessage[],
  reply: ReplyFn,
  model: string,
  maxTokens: number | undefined,
): AnswerPlan {
  const last = messages.at(-1);
  const prefill = last?.role === 'assistant' ? last.content : undefined;
  const context = prefill === undefined ? [...messages] : messages.slice(0, -1);
  const full = reply(context, model);
  const rest = prefill !== undefined && full.startsWith(prefill) ? full.slice(prefill.length) : full;
  const all = tokenize(rest);
  const limited = maxTokens !== undefined && maxTokens >= 0 && all.length > maxTokens;
  return {
    tokens: limited ? all.slice(0, maxTokens) : all,
    finishReason: limited ? 'length' : 'stop',
    prefill,
    promptTokens: countPromptTokens(messages),
  };
}
