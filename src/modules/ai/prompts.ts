import type { ChatMessage, GenerateParams } from './providers/types.js';

// Every prompt Inkstone sends, in one place. Each writing task takes the author's text and
// gives the messages for the model plus the parameters that suit the task.

export const AI_KINDS = ['draft', 'continue', 'rewrite', 'polish', 'summarize', 'titles', 'tags'] as const;
export type AiKind = (typeof AI_KINDS)[number];

export interface WritingInput {
  /** The post's title (draft, and context for the others). */
  title?: string;
  /** The text the task works on: the body so far, a selection, or the whole post. */
  text?: string;
  /** What the author wants done (rewrite: "shorter", "more formal", …). */
  instruction?: string;
}

const HAN = /\p{Script=Han}/u;
const KANA = /[\p{Script=Hiragana}\p{Script=Katakana}]/u;
const HANGUL = /\p{Script=Hangul}/u;

/** The language to answer in, named outright: models drift to English unless told. */
export function languageOf(sample: string): string {
  if (KANA.test(sample)) return 'Japanese';
  if (HANGUL.test(sample)) return 'Korean';
  if (HAN.test(sample)) return 'Chinese (简体中文)';
  return 'the same language as the author’s text';
}

const SYSTEM =
  'You are a writing assistant inside a blog editor. Write in Markdown. Output only the text asked for: no preamble, no notes about what you did.';

function messages(user: string): ChatMessage[] {
  return [
    { role: 'system', content: SYSTEM },
    { role: 'user', content: user },
  ];
}

export interface Prompt {
  messages: ChatMessage[];
  params: GenerateParams;
}

/** The prompt for a writing task; throws a message naming the missing field. */
export function buildPrompt(kind: AiKind, input: WritingInput): Prompt {
  const title = input.title?.trim() ?? '';
  const text = input.text?.trim() ?? '';
  const language = languageOf(`${title} ${text}`);
  const need = (value: string, field: string) => {
    if (!value) throw new MissingInput(field);
    return value;
  };
  switch (kind) {
    case 'draft':
      return {
        messages: messages(
          `Write a complete blog post titled "${need(title, 'title')}" in ${language}: an introduction, a body with a few sections under ## headings, and a conclusion.${text ? `\n\nThe author's notes to build on:\n${text}` : ''}`,
        ),
        params: { temperature: 0.7, maxTokens: 1500 },
      };
    case 'continue':
      return {
        messages: messages(
          `Continue this blog post${title ? ` titled "${title}"` : ''} from where it stops, in ${language}, for one or two paragraphs. Do not repeat what is already written.\n\n${need(text, 'text')}`,
        ),
        params: { temperature: 0.7, maxTokens: 400 },
      };
    case 'rewrite':
      return {
        messages: messages(
          `Rewrite the following passage in ${language}${input.instruction?.trim() ? ` (${input.instruction.trim()})` : ''}. Keep its meaning.\n\n${need(text, 'text')}`,
        ),
        params: { temperature: 0.6, maxTokens: 800 },
      };
    case 'polish':
      return {
        messages: messages(
          `Polish the following passage in ${language}: fix grammar, spelling and awkward phrasing; keep the author's voice, meaning and Markdown.\n\n${need(text, 'text')}`,
        ),
        params: { temperature: 0.2, maxTokens: 800 },
      };
    case 'summarize':
      return {
        messages: messages(
          `Summarise this blog post in ${language} in one or two sentences (at most 300 characters) for its excerpt. Plain text, no Markdown.\n\n${need(text, 'text')}`,
        ),
        params: { temperature: 0.3, maxTokens: 160 },
      };
    case 'titles':
      return {
        messages: messages(
          `Suggest five titles for this blog post in ${language}, one per line, without numbering or quotes.\n\n${need(text || title, 'text')}`,
        ),
        params: { temperature: 0.8, maxTokens: 200 },
      };
    case 'tags':
      return {
        messages: messages(
          `Suggest three to six short tags for this blog post in ${language}, separated by commas, nothing else.\n\n${need(text || title, 'text')}`,
        ),
        params: { temperature: 0.3, maxTokens: 60 },
      };
  }
}

export class MissingInput extends Error {
  constructor(readonly field: string) {
    super(`${field} is required for this writing task`);
  }
}
