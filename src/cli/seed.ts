import type { Services } from '../services.js';

export async function seedDemo(_services: Services, _options: { force: boolean }): Promise<string> {
  throw new Error('seed: not written yet');
}
