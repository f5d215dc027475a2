import { writeFile } from 'node:fs/promises';

/**
 * A GGUF model small enough to write in a test (~0.5 MB, F32) that llama.cpp loads and runs
 * like any other llama-architecture model, and whose greedy output is known in advance: it
 * counts. After " one" it says " two", after " nine" " ten", after " ten" it ends the answer
 * (`</s>`), and after any other token it starts at " one".
 *
 * How: the embedding of each number word is one-hot in its own dimension of the residual
 * stream, every other token shares one more dimension ("not a number"), and `output` reads
 * dimension k into the logit of word k + 1. Attention and feed-forward weights are small
 * noise, so they run for real (batching, KV cache, RoPE) but cannot move the residual stream
 * far enough to change the argmax. Format: GGUF v3 as read by llama.cpp's gguf.c; the layout
 * follows the spec (header, key/values, tensor infos, padding, 32-byte-aligned tensor data).
 */

export const TINY_WORDS = [
  'one',
  'two',
  'three',
  'four',
  'five',
  'six',
  'seven',
  'eight',
  'nine',
  'ten',
] as const;

/** A system prompt short enough to leave the 256-token context room for a conversation. */
export const TINY_SYSTEM_PROMPT = 'Count.';

/**
 * The whole conversation is concatenated, so the answer continues the user's text: a prompt
 * ending in "one two" is answered " three four …". That is what makes outputs predictable
 * through a chat wrapper (a role marker before the answer would always restart at " one").
 */
export const TINY_CHAT_TEMPLATE =
  "{{ bos_token }}{% for message in messages %}{% if message['role'] == 'system' %}" +
  "{{ message['content'] + '\n' }}{% else %}{{ message['content'] }}{% endif %}{% endfor %}";

const N_EMBD = 64;
const N_LAYER = 2;
const N_HEAD = 4;
const N_FF = 128;
/** The context the model declares; a caller may ask for more (writing prompts are long). */
const N_CTX = 256;
const ALIGNMENT = 32;
/** The residual dimension shared by every token that is not a number word. */
const OTHER_DIM = TINY_WORDS.length;
/** Small enough that |noise| summed over 64 or 128 inputs stays far below the word signal. */
const NOISE = 0.01;

// GGUF metadata value types and token types, from gguf.h and llama-vocab.h.
const T_UINT32 = 4;
const T_INT32 = 5;
const T_FLOAT32 = 6;
const T_BOOL = 7;
const T_STRING = 8;
const T_ARRAY = 9;
const GGML_F32 = 0;
const TOKEN_NORMAL = 1;
const TOKEN_UNKNOWN = 2;
const TOKEN_CONTROL = 3;
const TOKEN_BYTE = 6;

interface Vocab {
  tokens: string[];
  types: number[];
  /** Residual dimension each token is embedded in. */
  dims: number[];
  eos: number;
  wordIds: number[];
}

function buildVocab(): Vocab {
  const tokens: string[] = [];
  const types: number[] = [];
  const add = (text: string, type: number): number => {
    if (tokens.includes(text)) return tokens.indexOf(text);
    tokens.push(text);
    types.push(type);
    return tokens.length - 1;
  };
  add('<unk>', TOKEN_UNKNOWN);
  add('<s>', TOKEN_CONTROL);
  const eos = add('</s>', TOKEN_CONTROL);
  // Byte fallback: llama.cpp's SentencePiece tokenizer spells any character missing from the
  // vocabulary (a newline, Chinese) as these, and looks up <0x0A> at load time.
  for (let byte = 0; byte < 256; byte++) {
    add(`<0x${byte.toString(16).toUpperCase().padStart(2, '0')}>`, TOKEN_BYTE);
  }
  add('▁', TOKEN_NORMAL);
  for (let code = 33; code < 127; code++) add(String.fromCharCode(code), TOKEN_NORMAL);
  // llama.cpp merges two adjacent pieces only when their join is itself a token, so " three"
  // becomes one token only if every "▁"-prefix of it ("▁t", "▁th", …) is in the vocabulary.
  const wordIds = TINY_WORDS.map((word) => {
    const piece = `▁${word}`;
    for (let end = 2; end < piece.length; end++) add(piece.slice(0, end), TOKEN_NORMAL);
    return add(piece, TOKEN_NORMAL);
  });
  const dims = tokens.map((_, id) => {
    const word = wordIds.indexOf(id);
    return word >= 0 ? word : OTHER_DIM;
  });
  return { tokens, types, dims, eos, wordIds };
}

/** Deterministic noise (mulberry32), so that every test run writes the same bytes. */
function noise(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((((t ^ (t >>> 14)) >>> 0) / 4294967296) * 2 - 1) * NOISE;
  };
}

interface Tensor {
  name: string;
  /** ggml order: the first dimension is the contiguous one (a matrix is [inputs, outputs]). */
  shape: number[];
  data: Float32Array;
}

function noiseTensor(name: string, shape: number[], random: () => number): Tensor {
  const data = new Float32Array(shape.reduce((a, b) => a * b, 1));
  for (let i = 0; i < data.length; i++) data[i] = random();
  return { name, shape, data };
}

function onesTensor(name: string, size: number): Tensor {
  return { name, shape: [size], data: new Float32Array(size).fill(1) };
}

function buildTensors(vocab: Vocab, nextWeight: number): Tensor[] {
  const random = noise(0x1c0de);
  const nVocab = vocab.tokens.length;

  const embedding = noiseTensor('token_embd', [N_EMBD, nVocab], random);
  vocab.dims.forEach((dim, id) => {
    embedding.data[id * N_EMBD + dim] = 1;
  });

  const tensors: Tensor[] = [embedding];
  for (let layer = 0; layer < N_LAYER; layer++) {
    const block = (name: string) => `blk.${layer}.${name}`;
    tensors.push(
      onesTensor(block('attn_norm'), N_EMBD),
      noiseTensor(block('attn_q'), [N_EMBD, N_EMBD], random),
      noiseTensor(block('attn_k'), [N_EMBD, N_EMBD], random),
      noiseTensor(block('attn_v'), [N_EMBD, N_EMBD], random),
      noiseTensor(block('attn_output'), [N_EMBD, N_EMBD], random),
      onesTensor(block('ffn_norm'), N_EMBD),
      noiseTensor(block('ffn_gate'), [N_EMBD, N_FF], random),
      noiseTensor(block('ffn_up'), [N_EMBD, N_FF], random),
      noiseTensor(block('ffn_down'), [N_FF, N_EMBD], random),
    );
  }
  tensors.push(onesTensor('output_norm', N_EMBD));

  // After RMS norm the word's dimension holds ~8 (1 / sqrt(1/64)), so a weight of 0.5 gives
  // the next word a logit of ~4 against ±0.1 of noise for the rest: a safe greedy margin, yet
  // small enough that llama.cpp's default top-k 40 / top-p 0.95 keep other candidates (the
  // next word gets ~0.58 of the probability), so sampling strays and the seed matters.
  const output = noiseTensor('output', [N_EMBD, nVocab], random);
  const next = (dim: number) =>
    dim === OTHER_DIM ? vocab.wordIds[0]! : (vocab.wordIds[dim + 1] ?? vocab.eos);
  for (let dim = 0; dim <= OTHER_DIM; dim++) output.data[next(dim) * N_EMBD + dim] = nextWeight;
  tensors.push(output);
  return tensors;
}

type Value =
  | { type: typeof T_UINT32 | typeof T_FLOAT32 | typeof T_BOOL; value: number | boolean }
  | { type: typeof T_STRING; value: string }
  | { type: typeof T_ARRAY; of: typeof T_STRING; value: string[] }
  | { type: typeof T_ARRAY; of: typeof T_FLOAT32 | typeof T_INT32; value: number[] };

class ByteWriter {
  private readonly chunks: Buffer[] = [];
  length = 0;

  bytes(buffer: Buffer): void {
    this.chunks.push(buffer);
    this.length += buffer.length;
  }
  u32(value: number): void {
    const b = Buffer.alloc(4);
    b.writeUInt32LE(value);
    this.bytes(b);
  }
  i32(value: number): void {
    const b = Buffer.alloc(4);
    b.writeInt32LE(value);
    this.bytes(b);
  }
  u64(value: number): void {
    const b = Buffer.alloc(8);
    b.writeBigUInt64LE(BigInt(value));
    this.bytes(b);
  }
  f32(value: number): void {
    const b = Buffer.alloc(4);
    b.writeFloatLE(value);
    this.bytes(b);
  }
  string(value: string): void {
    const b = Buffer.from(value, 'utf8');
    this.u64(b.length);
    this.bytes(b);
  }
  pad(): void {
    const rest = this.length % ALIGNMENT;
    if (rest) this.bytes(Buffer.alloc(ALIGNMENT - rest));
  }
  value(v: Value): void {
    this.u32(v.type);
    switch (v.type) {
      case T_UINT32:
        return this.u32(Number(v.value));
      case T_FLOAT32:
        return this.f32(Number(v.value));
      case T_BOOL:
        return this.bytes(Buffer.from([v.value ? 1 : 0]));
      case T_STRING:
        return this.string(v.value);
      case T_ARRAY:
        this.u32(v.of);
        this.u64(v.value.length);
        for (const item of v.value) {
          if (typeof item === 'string') this.string(item);
          else if (v.of === T_INT32) this.i32(item);
          else this.f32(item);
        }
    }
  }
  toBuffer(): Buffer {
    return Buffer.concat(this.chunks);
  }
}

export interface TinyGgufOptions {
  /** What it declares it can hold (default 256). */
  contextLength?: number;
  /**
   * The weight that maps a word to the next (default 0.5: a logit of ~4, so sampling at a
   * temperature strays now and then and the seed matters). 1.5 gives ~12: the next word
   * wins at any temperature the prompts use, for tests that must not depend on a draw.
   */
  nextWeight?: number;
}

/** The bytes of the tiny model. */
export function tinyGguf(options: TinyGgufOptions = {}): Buffer {
  const vocab = buildVocab();
  const tensors = buildTensors(vocab, options.nextWeight ?? 0.5);
  const u32 = (value: number): Value => ({ type: T_UINT32, value });
  const metadata: [string, Value][] = [
    ['general.architecture', { type: T_STRING, value: 'llama' }],
    ['general.name', { type: T_STRING, value: 'inkstone-tiny-counter' }],
    ['general.alignment', u32(ALIGNMENT)],
    ['general.file_type', u32(0)], // all F32
    ['llama.context_length', u32(options.contextLength ?? N_CTX)],
    ['llama.embedding_length', u32(N_EMBD)],
    ['llama.block_count', u32(N_LAYER)],
    ['llama.feed_forward_length', u32(N_FF)],
    ['llama.attention.head_count', u32(N_HEAD)],
    ['llama.attention.head_count_kv', u32(N_HEAD)],
    ['llama.attention.layer_norm_rms_epsilon', { type: T_FLOAT32, value: 1e-5 }],
    ['llama.rope.dimension_count', u32(N_EMBD / N_HEAD)],
    ['llama.vocab_size', u32(vocab.tokens.length)],
    ['tokenizer.ggml.model', { type: T_STRING, value: 'llama' }],
    ['tokenizer.ggml.tokens', { type: T_ARRAY, of: T_STRING, value: vocab.tokens }],
    // SentencePiece merges the pair whose join scores highest; with only "▁"-prefixes of the
    // words to build, any order works, so the scores just fall with the id as in real models.
    ['tokenizer.ggml.scores', { type: T_ARRAY, of: T_FLOAT32, value: vocab.tokens.map((_, id) => -id) }],
    ['tokenizer.ggml.token_type', { type: T_ARRAY, of: T_INT32, value: vocab.types }],
    ['tokenizer.ggml.unknown_token_id', u32(0)],
    ['tokenizer.ggml.bos_token_id', u32(1)],
    ['tokenizer.ggml.eos_token_id', u32(vocab.eos)],
    ['tokenizer.ggml.add_bos_token', { type: T_BOOL, value: true }],
    ['tokenizer.ggml.add_eos_token', { type: T_BOOL, value: false }],
    ['tokenizer.chat_template', { type: T_STRING, value: TINY_CHAT_TEMPLATE }],
  ];

  const out = new ByteWriter();
  out.bytes(Buffer.from('GGUF', 'ascii'));
  out.u32(3);
  out.u64(tensors.length);
  out.u64(metadata.length);
  for (const [key, value] of metadata) {
    out.string(key);
    out.value(value);
  }
  let offset = 0;
  for (const tensor of tensors) {
    out.string(`${tensor.name}.weight`);
    out.u32(tensor.shape.length);
    for (const size of tensor.shape) out.u64(size);
    out.u32(GGML_F32);
    out.u64(offset);
    offset += Math.ceil(tensor.data.byteLength / ALIGNMENT) * ALIGNMENT;
  }
  out.pad();
  for (const tensor of tensors) {
    out.bytes(Buffer.from(tensor.data.buffer, tensor.data.byteOffset, tensor.data.byteLength));
    out.pad();
  }
  return out.toBuffer();
}

/** Writes the tiny model to `path` and returns the path. */
export async function writeTinyGguf(path: string, options: TinyGgufOptions = {}): Promise<string> {
  await writeFile(path, tinyGguf(options));
  return path;
}
