import { randomBytes, randomFillSync, randomInt, randomUUID } from 'node:crypto';

const UPPER_ALNUM = 'ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789';
const SECRET_ALPHABET = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/';
const LOWER_ALNUM = 'abcdefghijklmnopqrstuvwxyz0123456789';

function randomString(alphabet: string, length: number): string {
  let out = '';
  for (let i = 0; i < length; i++) out += alphabet[randomInt(alphabet.length)];
  return out;
}

/** `CS` + 18 upper-case letters/digits: 20 characters like AWS key ids. */
export const newAccessKeyId = () => `CS${randomString(UPPER_ALNUM, 18)}`;
/** 40 random characters, the shape of an AWS secret key. */
export const newSecretAccessKey = () => randomString(SECRET_ALPHABET, 40);
export const newId = () => randomUUID();
/** Lower-case alphanumerics: valid inside S3 bucket names. */
export const newBackendBucketSuffix = () => randomString(LOWER_ALNUM, 24);
// Request ids: a random per-process prefix and a counter, unique without a syscall per request.
const requestIdPrefix = randomBytes(3).toString('hex').toUpperCase();
let requestCounter = 0;
export const newRequestId = () => {
  requestCounter = (requestCounter + 1) % 0xffffffffff;
  return requestIdPrefix + requestCounter.toString(16).toUpperCase().padStart(10, '0');
};

const CROCKFORD = '0123456789ABCDEFGHJKMNPQRSTVWXYZ';
/**
 * Domain event ids (ULID layout): 48-bit milliseconds then 80 random bits, as 26 Crockford base32
 * characters, so ids sort by creation time and never collide across processes sharing a DATA_DIR.
 * `at` is the injected clock's time of the event.
 */
/** Random bytes drawn in blocks: one `randomFillSync` per 409 ids instead of a `randomBytes` call (and buffer) per id. */
const RANDOM_POOL = Buffer.alloc(4096);
let randomPoolOffset = RANDOM_POOL.length;
function pooledRandom(size: number): Buffer {
  if (randomPoolOffset + size > RANDOM_POOL.length) {
    randomFillSync(RANDOM_POOL);
    randomPoolOffset = 0;
  }
  randomPoolOffset += size;
  return RANDOM_POOL.subarray(randomPoolOffset - size, randomPoolOffset);
}

export const newEventId = (at: Date | number = Date.now()) => {
  let ms = Math.max(0, Math.floor(typeof at === 'number' ? at : at.getTime()));
  let time = '';
  for (let i = 0; i < 10; i++) {
    time = CROCKFORD[ms % 32] + time;
    ms = Math.floor(ms / 32);
  }
  const random = pooledRandom(10);
  let out = time;
  // 80 bits = 16 groups of 5 bits.
  let buffer = 0;
  let bits = 0;
  for (const byte of random) {
    buffer = (buffer << 8) | byte;
    bits += 8;
    while (bits >= 5) {
      bits -= 5;
      out += CROCKFORD[(buffer >> bits) & 31];
    }
    buffer &= (1 << bits) - 1;
  }
  return out;
};
