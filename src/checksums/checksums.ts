import { createHash, type Hash } from 'node:crypto';
import zlib from 'node:zlib';
import { Crc32c } from '@aws-crypto/crc32c';

/** The flexible-checksum algorithms S3 accepts (`x-amz-checksum-<lower-case name>`). */
export const CHECKSUM_ALGORITHMS = ['CRC32', 'CRC32C', 'SHA1', 'SHA256', 'CRC64NVME'] as const;
export type ChecksumAlgorithm = (typeof CHECKSUM_ALGORITHMS)[number];

export interface Checksummer {
  update(chunk: Uint8Array): void;
  /** Raw digest bytes (big-endian for the CRCs, as S3 encodes them). */
  digest(): Buffer;
}

export function isChecksumAlgorithm(value: string): value is ChecksumAlgorithm {
  return (CHECKSUM_ALGORITHMS as readonly string[]).includes(value);
}

/** `x-amz-checksum-crc32` → `CRC32`; undefined for anything else. */
export function checksumAlgorithmFromHeader(headerName: string): ChecksumAlgorithm | undefined {
  const prefix = 'x-amz-checksum-';
  if (!headerName.startsWith(prefix)) return undefined;
  const name = headerName.slice(prefix.length).toUpperCase();
  return isChecksumAlgorithm(name) ? name : undefined;
}

export function checksumHeaderName(algorithm: ChecksumAlgorithm): string {
  return `x-amz-checksum-${algorithm.toLowerCase()}`;
}

/** Byte length of each algorithm's raw digest: used to reject malformed client values early. */
export const CHECKSUM_DIGEST_BYTES: Record<ChecksumAlgorithm, number> = {
  CRC32: 4,
  CRC32C: 4,
  SHA1: 20,
  SHA256: 32,
  CRC64NVME: 8,
};

class NodeHashChecksummer implements Checksummer {
  private readonly hash: Hash;
  constructor(algorithm: 'sha1' | 'sha256' | 'md5') {
    this.hash = createHash(algorithm);
  }
  update(chunk: Uint8Array) {
    this.hash.update(chunk);
  }
  digest() {
    return this.hash.digest();
  }
}

// zlib.crc32 is native (Node >= 20.15) and an order of magnitude faster than a JS table walk.
class Crc32Checksummer implements Checksummer {
  private value = 0;
  update(chunk: Uint8Array) {
    this.value = zlib.crc32(chunk, this.value);
  }
  digest() {
    const out = Buffer.alloc(4);
    out.writeUInt32BE(this.value >>> 0);
    return out;
  }
}

class Crc32cChecksummer implements Checksummer {
  private readonly impl = new Crc32c();
  update(chunk: Uint8Array) {
    this.impl.update(chunk);
  }
  digest() {
    const out = Buffer.alloc(4);
    out.writeUInt32BE(this.impl.digest() >>> 0);
    return out;
  }
}

// CRC-64/NVME (reflected, poly 0x9a6c9329ac4bc9b5, init and xorout all ones), computed on two
// 32-bit halves because BigInt arithmetic per byte is ~50x slower.
const CRC64_TABLE_LO = new Uint32Array(256);
const CRC64_TABLE_HI = new Uint32Array(256);
{
  const polyLo = 0xac4bc9b5;
  const polyHi = 0x9a6c9329;
  for (let n = 0; n < 256; n++) {
    let lo = n;
    let hi = 0;
    for (let bit = 0; bit < 8; bit++) {
      const carry = lo & 1;
      lo = ((lo >>> 1) | ((hi & 1) << 31)) >>> 0;
      hi = hi >>> 1;
      if (carry) {
        lo = (lo ^ polyLo) >>> 0;
        hi = (hi ^ polyHi) >>> 0;
      }
    }
    CRC64_TABLE_LO[n] = lo;
    CRC64_TABLE_HI[n] = hi;
  }
}

class Crc64NvmeChecksummer implements Checksummer {
  private lo = 0xffffffff;
  private hi = 0xffffffff;
  update(chunk: Uint8Array) {
    let lo = this.lo;
    let hi = this.hi;
    for (let i = 0; i < chunk.length; i++) {
      const index = (lo ^ chunk[i]) & 0xff;
      lo = ((lo >>> 8) | (hi << 24)) ^ CRC64_TABLE_LO[index];
      hi = (hi >>> 8) ^ CRC64_TABLE_HI[index];
    }
    this.lo = lo >>> 0;
    this.hi = hi >>> 0;
  }
  digest() {
    const out = Buffer.alloc(8);
    out.writeUInt32BE((this.hi ^ 0xffffffff) >>> 0, 0);
    out.writeUInt32BE((this.lo ^ 0xffffffff) >>> 0, 4);
    return out;
  }
}

export function createChecksummer(algorithm: ChecksumAlgorithm | 'MD5'): Checksummer {
  switch (algorithm) {
    case 'CRC32':
      return new Crc32Checksummer();
    case 'CRC32C':
      return new Crc32cChecksummer();
    case 'SHA1':
      return new NodeHashChecksummer('sha1');
    case 'SHA256':
      return new NodeHashChecksummer('sha256');
    case 'MD5':
      return new NodeHashChecksummer('md5');
    case 'CRC64NVME':
      return new Crc64NvmeChecksummer();
  }
}

export function checksumOf(algorithm: ChecksumAlgorithm | 'MD5', data: Uint8Array): Buffer {
  const summer = createChecksummer(algorithm);
  summer.update(data);
  return summer.digest();
}

/**
 * S3's multipart "composite" checksum: the checksum of the concatenated raw part checksums,
 * rendered as `base64-N`.
 */
export function compositeChecksum(algorithm: ChecksumAlgorithm, partValuesBase64: string[]): string {
  const summer = createChecksummer(algorithm);
  for (const value of partValuesBase64) summer.update(Buffer.from(value, 'base64'));
  return `${summer.digest().toString('base64')}-${partValuesBase64.length}`;
}
