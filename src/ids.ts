import { randomBytes, randomInt, randomUUID } from 'node:crypto';

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
