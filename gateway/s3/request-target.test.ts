import { describe, expect, it } from 'vitest';
import { S3Error } from '../../src/errors/s3-errors.ts';
import { parseOperation } from './operations.ts';
import { parseRequestTarget, resourceOf } from './request-target.ts';

const target = (rawUrl: string, host = '127.0.0.1:9000', domain?: string) => parseRequestTarget(rawUrl, host, domain);
const operation = (method: string, rawUrl: string, headers: Record<string, string> = {}) => parseOperation(method, target(rawUrl), headers);

function s3ErrorCode(fn: () => unknown): string | undefined {
  try {
    fn();
  } catch (error) {
    return error instanceof S3Error ? error.code : `non-S3 error: ${error}`;
  }
  return undefined;
}

describe('request target from the raw request line', () => {
  it.each([
    ['/bucket/plain.txt', 'plain.txt'],
    ['/bucket/with%20space.txt', 'with space.txt'],
    ['/bucket/plus+sign', 'plus+sign'],
    ['/bucket/encoded%2Bplus', 'encoded+plus'],
    ['/bucket/percent%2520literal', 'percent%20literal'],
    ['/bucket/%C3%BCn%C3%AFc%C3%B8d%C3%A9/%E6%96%87%E4%BB%B6', 'ünïcødé/文件'],
    ['/bucket/a%3Db%26c', 'a=b&c'],
    ['/bucket/a/../b', 'a/../b'],
    ['/bucket/./dot', './dot'],
    ['/bucket/double//slash/', 'double//slash/'],
    ['/bucket/%2E%2E/escape', '../escape'],
  ])('%s → key %j', (rawUrl, key) => {
    const parsed = target(rawUrl);
    expect(parsed.bucket).toBe('bucket');
    expect(parsed.key).toBe(key);
    expect(parsed.addressing).toBe('path');
  });

  it('separates the query without decoding the path', () => {
    const parsed = target('/bucket/k%3Fnot-a-query?prefix=a%2Fb&list-type=2&encoding-type=url');
    expect(parsed.key).toBe('k?not-a-query');
    expect(parsed.query.get('prefix')).toBe('a/b');
    expect(parsed.query.get('list-type')).toBe('2');
    expect(parsed.rawQuery).toBe('prefix=a%2Fb&list-type=2&encoding-type=url');
  });

  it('addresses the service, a bucket, and an object', () => {
    expect(target('/')).toMatchObject({ bucket: undefined, key: undefined });
    expect(target('/bucket')).toMatchObject({ bucket: 'bucket', key: undefined });
    expect(target('/bucket/')).toMatchObject({ bucket: 'bucket', key: undefined });
    expect(resourceOf(target('/bucket/a b'))).toBe('/bucket/a b');
  });

  it('reads the bucket from the Host header under S3_DOMAIN (virtual-hosted style)', () => {
    const parsed = target('/photos/2024/a.jpg', 'my-bucket.s3.example.com:9000', 's3.example.com');
    expect(parsed).toMatchObject({ bucket: 'my-bucket', key: 'photos/2024/a.jpg', addressing: 'virtual-host' });
    expect(target('/my-bucket/k', 's3.example.com', 's3.example.com')).toMatchObject({ bucket: 'my-bucket', key: 'k', addressing: 'path' });
    expect(target('/', 'b.S3.Example.com', 's3.example.com')).toMatchObject({ bucket: 'b', key: undefined });
  });

  it('rejects malformed escapes and over-long keys', () => {
    expect(s3ErrorCode(() => target('/bucket/%E0%A4%A'))).toBe('InvalidURI');
    expect(s3ErrorCode(() => target(`/bucket/${'k'.repeat(1025)}`))).toBe('KeyTooLongError');
    expect(s3ErrorCode(() => target(`/bucket/${'k'.repeat(1024)}`))).toBeUndefined();
  });
});

describe('operation parsing', () => {
  it.each([
    ['GET', '/', {}, 'ListBuckets'],
    ['PUT', '/b', {}, 'CreateBucket'],
    ['DELETE', '/b', {}, 'DeleteBucket'],
    ['HEAD', '/b', {}, 'HeadBucket'],
    ['GET', '/b?location', {}, 'GetBucketLocation'],
    ['GET', '/b?versioning', {}, 'GetBucketVersioning'],
    ['GET', '/b', {}, 'ListObjects'],
    ['GET', '/b?list-type=2&prefix=x', {}, 'ListObjectsV2'],
    ['GET', '/b?uploads', {}, 'ListMultipartUploads'],
    ['POST', '/b?delete', {}, 'DeleteObjects'],
    ['PUT', '/b/k', {}, 'PutObject'],
    ['PUT', '/b/k', { 'x-amz-copy-source': '/b/src' }, 'CopyObject'],
    ['GET', '/b/k', {}, 'GetObject'],
    ['GET', '/b/k?response-content-type=text/plain', {}, 'GetObject'],
    ['HEAD', '/b/k', {}, 'HeadObject'],
    ['DELETE', '/b/k', {}, 'DeleteObject'],
    ['GET', '/b/k?tagging', {}, 'GetObjectTagging'],
    ['PUT', '/b/k?tagging', {}, 'PutObjectTagging'],
    ['DELETE', '/b/k?tagging', {}, 'DeleteObjectTagging'],
    ['POST', '/b/k?uploads', {}, 'CreateMultipartUpload'],
    ['PUT', '/b/k?partNumber=3&uploadId=u1', {}, 'UploadPart'],
    ['PUT', '/b/k?partNumber=3&uploadId=u1', { 'x-amz-copy-source': 'b/src' }, 'UploadPartCopy'],
    ['POST', '/b/k?uploadId=u1', {}, 'CompleteMultipartUpload'],
    ['DELETE', '/b/k?uploadId=u1', {}, 'AbortMultipartUpload'],
    ['GET', '/b/k?uploadId=u1', {}, 'ListParts'],
    ['GET', '/b?lifecycle', {}, 'NotImplemented'],
    ['GET', '/b/k?retention', {}, 'NotImplemented'],
    ['GET', '/b/k?acl', {}, 'GetObjectAcl'],
    ['PUT', '/b?policy', {}, 'NotImplemented'],
    ['GET', '/b/k?X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Signature=abc', {}, 'GetObject'],
  ])('%s %s → %s', (method, rawUrl, headers, expected) => {
    expect(operation(method, rawUrl, headers as Record<string, string>).op).toBe(expected);
  });

  it('names the sub-resources it does not serve in one order, whatever order and however often the query names them', () => {
    expect(operation('GET', '/b/k?retention&legal-hold&x-id=1&retention')).toEqual({ op: 'NotImplemented', bucket: 'b', key: 'k', feature: 'legal-hold,retention' });
    expect(operation('GET', '/b/k?legal-hold&retention')).toEqual({ op: 'NotImplemented', bucket: 'b', key: 'k', feature: 'legal-hold,retention' });
    // A sub-resource with a value, beside parameters that are none.
    expect(operation('GET', '/b?prefix=a&website=&max-keys=2')).toEqual({ op: 'NotImplemented', bucket: 'b', key: undefined, feature: 'website' });
    // Two served ones together are no operation of either.
    expect(operation('GET', '/b/k?tagging&acl').op).toBe('NotImplemented');
  });

  it('carries the part number and upload id', () => {
    expect(operation('PUT', '/b/my%20key?partNumber=7&uploadId=abc')).toEqual({ op: 'UploadPart', bucket: 'b', key: 'my key', uploadId: 'abc', partNumber: 7 });
  });

  it('rejects part numbers outside 1..10000 and unknown methods', () => {
    expect(s3ErrorCode(() => operation('PUT', '/b/k?partNumber=0&uploadId=u'))).toBe('InvalidArgument');
    expect(s3ErrorCode(() => operation('PUT', '/b/k?partNumber=10001&uploadId=u'))).toBe('InvalidArgument');
    expect(s3ErrorCode(() => operation('PUT', '/b/k?partNumber=1.5&uploadId=u'))).toBe('InvalidArgument');
    expect(s3ErrorCode(() => operation('PATCH', '/b/k'))).toBe('MethodNotAllowed');
  });
});
