import { describe, expect, it } from 'vitest';
import { randomBytes } from 'node:crypto';
import { Crc64Nvme } from '@aws-sdk/crc64-nvme';
import { checksumOf, compositeChecksum, createChecksummer, checksumAlgorithmFromHeader } from './checksums.ts';

const CHECK_INPUT = Buffer.from('123456789');

describe('checksums', () => {
  it('matches the published check values', () => {
    expect(checksumOf('CRC32', CHECK_INPUT).toString('hex')).toBe('cbf43926');
    expect(checksumOf('CRC32C', CHECK_INPUT).toString('hex')).toBe('e3069283');
    expect(checksumOf('CRC64NVME', CHECK_INPUT).toString('hex')).toBe('ae8b14860a799888');
    expect(checksumOf('SHA1', Buffer.from('abc')).toString('hex')).toBe('a9993e364706816aba3e25717850c26c9cd0d89d');
    expect(checksumOf('SHA256', Buffer.alloc(0)).toString('hex')).toBe('e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855');
  });

  it('gives the same CRC64NVME as the AWS SDK, across chunk boundaries', async () => {
    const data = randomBytes(100_003);
    const reference = new Crc64Nvme();
    reference.update(data);
    const expected = Buffer.from(await reference.digest()).toString('base64');
    const summer = createChecksummer('CRC64NVME');
    summer.update(data.subarray(0, 7));
    summer.update(data.subarray(7, 50_000));
    summer.update(data.subarray(50_000));
    expect(summer.digest().toString('base64')).toBe(expected);
  });

  it('builds composite multipart checksums as base64-N', () => {
    const parts = [checksumOf('CRC32', Buffer.from('a')), checksumOf('CRC32', Buffer.from('b'))].map((b) => b.toString('base64'));
    const expected = checksumOf('CRC32', Buffer.concat(parts.map((p) => Buffer.from(p, 'base64')))).toString('base64');
    expect(compositeChecksum('CRC32', parts)).toBe(`${expected}-2`);
  });

  it('maps header names to algorithms', () => {
    expect(checksumAlgorithmFromHeader('x-amz-checksum-crc64nvme')).toBe('CRC64NVME');
    expect(checksumAlgorithmFromHeader('x-amz-checksum-md5')).toBeUndefined();
    expect(checksumAlgorithmFromHeader('x-amz-checksum-type')).toBeUndefined();
  });
});
