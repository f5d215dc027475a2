import { describe, expect, it } from 'vitest';
import { safeNext } from '../../src/http/forms.js';

describe('safeNext', () => {
  it('follows same-site paths', () => {
    expect(safeNext('/posts/hello?x=1#c')).toBe('/posts/hello?x=1#c');
    expect(safeNext('/posts/%E4%BD%A0')).toBe('/posts/%E4%BD%A0');
  });

  it('refuses anything a browser could turn into another origin', () => {
    for (const next of [
      '//evil.example',
      '/\\evil.example',
      '/\t/evil.example',
      '/\n/evil.example',
      ' /x',
      'https://evil.example',
      'javascript:alert(1)',
      '',
      undefined,
      42,
    ]) {
      expect(safeNext(next, '/home'), String(next)).toBe('/home');
    }
  });
});
