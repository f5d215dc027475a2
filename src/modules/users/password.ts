import { randomBytes, type ScryptOptions, scrypt, timingSafeEqual } from 'node:crypto';

/** Hashes and checks passwords; injected so tests can use a cheap cost. */
export interface PasswordHasher {
  hash(password: string): Promise<string>;
  verify(password: string, stored: string): Promise<boolean>;
}

// scrypt with N=2^15, r=8, p=1 (32 MiB, ~50 ms): OWASP's floor for scrypt. The parameters
// are stored in each hash, so raising them later still verifies old hashes.
const PARAMS = { N: 2 ** 15, r: 8, p: 1 };
const KEY_LENGTH = 32;

function derive(password: string, salt: Buffer, options: Required<Pick<ScryptOptions, 'N' | 'r' | 'p'>>) {
  return new Promise<Buffer>((resolve, reject) => {
    const maxmem = 256 * options.N * options.r;
    scrypt(password.normalize('NFKC'), salt, KEY_LENGTH, { ...options, maxmem }, (error, key) =>
      error ? reject(error) : resolve(key),
    );
  });
}

/** scrypt; `cost` (N) below the default is for tests only, where ~90 ms per hash adds up. */
export function scryptHasher(cost = PARAMS.N): PasswordHasher {
  const params = { ...PARAMS, N: cost };
  return {
    async hash(password) {
      const salt = randomBytes(16);
      const key = await derive(password, salt, params);
      return `scrypt$${params.N}$${params.r}$${params.p}$${salt.toString('base64')}$${key.toString('base64')}`;
    },
    async verify(password, stored) {
      const [scheme, n, r, p, salt, expected] = stored.split('$');
      if (scheme !== 'scrypt' || !salt || !expected) return false;
      const key = await derive(password, Buffer.from(salt, 'base64'), {
        N: Number(n),
        r: Number(r),
        p: Number(p),
      });
      const want = Buffer.from(expected, 'base64');
      return want.length === key.length && timingSafeEqual(want, key);
    },
  };
}
