import { describe, expect, it } from 'vitest';
import {
  awsUriEncode,
  buildCanonicalRequest,
  canonicalQueryString,
  canonicalUri,
  normalizeHeaderValue,
  percentDecode,
  signedHeaderValues,
  splitQuery,
  splitRawUrl,
} from './canonical.ts';

describe('awsUriEncode', () => {
  it('keeps only the unreserved set, upper-case hex, UTF-8', () => {
    expect(awsUriEncode('AZaz09-_.~')).toBe('AZaz09-_.~');
    expect(awsUriEncode("a b+c/d=e&f%g*h'!()")).toBe('a%20b%2Bc%2Fd%3De%26f%25g%2Ah%27%21%28%29');
    expect(awsUriEncode('a/b', false)).toBe('a/b');
    expect(awsUriEncode('é😀')).toBe('%C3%A9%F0%9F%98%80');
  });
});

describe('canonicalUri', () => {
  it('returns already-canonical paths untouched', () => {
    expect(canonicalUri('/bucket/key.txt')).toBe('/bucket/key.txt');
    expect(canonicalUri('/')).toBe('/');
    expect(canonicalUri('')).toBe('/');
  });

  it('normalises each segment: decode, then AWS-encode; no double encoding', () => {
    expect(canonicalUri('/bucket/my%20key%2bx')).toBe('/bucket/my%20key%2Bx');
    expect(canonicalUri('/bucket/my key')).toBe('/bucket/my%20key');
    expect(canonicalUri('/bucket/%7Etilde')).toBe('/bucket/~tilde');
    expect(canonicalUri('/bucket/%25')).toBe('/bucket/%25');
  });

  it('treats a literal + in the path as a plus, not a space', () => {
    expect(canonicalUri('/bucket/a+b')).toBe('/bucket/a%2Bb');
  });

  it('keeps %2F inside a segment encoded and literal slashes as separators', () => {
    expect(canonicalUri('/bucket/a%2Fb/c')).toBe('/bucket/a%2Fb/c');
  });

  it('does not resolve dot segments or merge slashes', () => {
    expect(canonicalUri('/bucket/a/../b/./c')).toBe('/bucket/a/../b/./c');
    expect(canonicalUri('/bucket//a///b/')).toBe('/bucket//a///b/');
  });

  it('handles unicode, raw or escaped, and stray percent signs', () => {
    expect(canonicalUri('/b/%C3%BC')).toBe('/b/%C3%BC');
    expect(canonicalUri('/b/%c3%bc')).toBe('/b/%C3%BC');
    expect(canonicalUri('/b/ü')).toBe('/b/%C3%BC');
    expect(canonicalUri('/b/100%')).toBe('/b/100%25');
    expect(canonicalUri('/b/%zz')).toBe('/b/%25zz');
  });
});

describe('splitRawUrl', () => {
  it('splits origin-form targets at the first ?', () => {
    expect(splitRawUrl('/b/k?x=1&y')).toEqual({ path: '/b/k', query: 'x=1&y' });
    expect(splitRawUrl('/b/k')).toEqual({ path: '/b/k', query: '' });
    expect(splitRawUrl('/b/k?a=b?c')).toEqual({ path: '/b/k', query: 'a=b?c' });
  });

  it.each(['/b/k#private', '/b/k?X-Amz-Signature=x#&tagging', '/b/k?a=1#', 'http://host:9000/b/k?x=1', '*', ''])(
    'refuses %j (InvalidURI) instead of signing one target and executing another',
    (rawUrl) => {
      expect(() => splitRawUrl(rawUrl)).toThrowError(expect.objectContaining({ code: 'InvalidURI', status: 400 }));
    },
  );
});

describe('canonicalQueryString', () => {
  it('decodes and re-encodes names and values, sorts by name then value', () => {
    expect(canonicalQueryString('prefix=a%2Fb&list-type=2')).toBe('list-type=2&prefix=a%2Fb');
    expect(canonicalQueryString('b=2&a=3&a=1')).toBe('a=1&a=3&b=2');
    expect(canonicalQueryString('x=a b')).toBe('x=a%20b');
    expect(canonicalQueryString('x=%7e')).toBe('x=~');
    expect(canonicalQueryString('x=a=b')).toBe('x=a%3Db');
  });

  it('gives parameters without = an empty value and skips empty pieces', () => {
    expect(canonicalQueryString('uploads')).toBe('uploads=');
    expect(canonicalQueryString('delete&&versionId=')).toBe('delete=&versionId=');
    expect(canonicalQueryString('')).toBe('');
  });

  it('sorts by encoded form (byte order)', () => {
    // 'Z' (0x5A) < '_' (0x5F) < 'a' (0x61); encoded '%' (0x25) sorts first.
    expect(canonicalQueryString('a=1&_=2&Z=3&%20=4')).toBe('%20=4&Z=3&_=2&a=1');
  });

  it('plus: literal by default, a space on request', () => {
    expect(canonicalQueryString('p=a+b')).toBe('p=a%2Bb');
    expect(canonicalQueryString('p=a+b', { plusAsSpace: true })).toBe('p=a%20b');
  });

  it('drops X-Amz-Signature only when asked', () => {
    expect(canonicalQueryString('X-Amz-Signature=abc&a=1', { excludeSignature: true })).toBe('a=1');
    expect(canonicalQueryString('X-Amz-Signature=abc&a=1')).toBe('X-Amz-Signature=abc&a=1');
  });
});

describe('percentDecode / splitQuery', () => {
  it('never throws on malformed escapes', () => {
    expect(percentDecode('%E0%A4%A')).toBe('\ufffd%A');
    expect(percentDecode('a%2Fb')).toBe('a/b');
  });
  it('splits names and values at the first =', () => {
    expect(splitQuery('a=1=2&b&=c')).toEqual([
      { rawName: 'a', rawValue: '1=2' },
      { rawName: 'b', rawValue: '' },
      { rawName: '', rawValue: 'c' },
    ]);
  });
});

describe('headers', () => {
  it('trims and collapses whitespace', () => {
    expect(normalizeHeaderValue('plain')).toBe('plain');
    expect(normalizeHeaderValue('  a   b \t c  ')).toBe('a b c');
  });

  it('joins repeated headers with a comma from rawHeaders', () => {
    const values = signedHeaderValues(['host', 'x-amz-meta-a'], { host: 'h', 'x-amz-meta-a': 'one, two' }, ['Host', 'h', 'X-Amz-Meta-A', ' one ', 'x-amz-meta-a', 'two']);
    expect(values).toEqual(['h', 'one,two']);
  });

  it('falls back to the headers object and to :authority for host', () => {
    expect(signedHeaderValues(['host', 'missing'], { ':authority': 'example.com' } as never)).toEqual(['example.com', '']);
    expect(signedHeaderValues(['x'], { x: ['a', ' b '] } as never)).toEqual(['a,b']);
  });

  it('builds the canonical request layout', () => {
    const creq = buildCanonicalRequest({
      method: 'GET',
      canonicalUri: '/test.txt',
      canonicalQuery: '',
      signedHeaders: ['host', 'range'],
      headerValues: ['examplebucket.s3.amazonaws.com', 'bytes=0-9'],
      payloadHash: 'UNSIGNED-PAYLOAD',
    });
    expect(creq).toBe('GET\n/test.txt\n\nhost:examplebucket.s3.amazonaws.com\nrange:bytes=0-9\n\nhost;range\nUNSIGNED-PAYLOAD');
  });
});
