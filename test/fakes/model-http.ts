// Small HTTP helpers for the fake model server: bodies in and out, and the model list.
import { type IncomingMessage, type ServerResponse } from 'node:http';

export function readBody(req: IncomingMessage): Promise<string> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    req.on('data', (chunk: Buffer) => chunks.push(chunk));
    req.on('end', () => resolve(Buffer.concat(chunks).toString('utf8')));
    req.on('error', reject);
    req.on('aborted', () => reject(new Error('aborted')));
  });
}

export function sendJson(
  res: ServerResponse,
  status: number,
  body: unknown,
  headers: Record<string, string> = {},
): void {
  const text = JSON.stringify(body);
  res.writeHead(status, {
    'content-type': 'application/json; charset=utf-8',
    'content-length': Buffer.byteLength(text),
    ...headers,
  });
  res.end(text);
}

export function sendText(res: ServerResponse, status: number, text: string): void {
  res.writeHead(status, {
    'content-type': 'text/plain; charset=utf-8',
    'content-length': Buffer.byteLength(text),
  });
  res.end(text);
}

export function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

// Ollama resolves "glm4" to "glm4:latest".
export function knownModel(models: readonly string[], model: string): boolean {
  const full = (name: string) => (name.includes(':') ? name : `${name}:latest`);
  return models.some((m) => full(m) === full(model));
}

export function tagEntry(name: string, modified: Date) {
  return {
    name: name.includes(':') ? name : `${name}:latest`,
    model: name.includes(':') ? name : `${name}:latest`,
    modified_at: modified.toISOString(),
    size: 5_455_323_202,
    digest: 'f'.repeat(64),
    details: {
      parent_model: '',
      format: 'gguf',
      family: 'fake',
      families: ['fake'],
      parameter_size: '9.4B',
      quantization_level: 'Q4_0',
    },
  };
}
