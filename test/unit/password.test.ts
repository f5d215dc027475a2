import { describe, expect, it } from 'vitest';
import { scryptHasher } from '../../src/modules/users/password.js';

// The other suites hash at a test cost; this one keeps the production parameters honest.
describe('the production password hasher', () => {
  const hasher = scryptHasher();

  it('stores scrypt with N=2^15, r=8, p=1 and a random salt', async () => {
    const first = await hasher.hash('correct horse battery');
    const second = await hasher.hash('correct horse battery');
    expect(first).toMatch(/^scrypt\$32768\$8\$1\$[A-Za-z0-9+/=]+\$[A-Za-z0-9+/=]+$/);
    expect(first).not.toBe(second);
  });

  it('verifies the right password and refuses a wrong or malformed one', async () => {
    const stored = await hasher.hash('correct horse battery');
    expect(await hasher.verify('correct horse battery', stored)).toBe(true);
    expect(await hasher.verify('correct horse batterY', stored)).toBe(false);
    expect(await hasher.verify('correct horse battery', 'md5$abc')).toBe(false);
  });

  it('verifies hashes made at another cost, since the parameters travel with the hash', async () => {
    const cheap = await scryptHasher(2 ** 10).hash('correct horse battery');
    expect(await hasher.verify('correct horse battery', cheap)).toBe(true);
  });

  it('treats NFKC-equivalent spellings as the same password', async () => {
    const stored = await hasher.hash('ｐａｓｓｗｏｒｄ１２３');
    expect(await hasher.verify('password123', stored)).toBe(true);
  });
});
