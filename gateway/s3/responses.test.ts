import { createServer, request, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { describe, expect, it } from 'vitest';
import { addS3HeadFields, startS3Response, writeReply, writeS3Head, xmlResponse } from './responses.ts';

/** Serves one request with `handle` over a real socket and returns the client's view of the response. */
async function serve(handle: (outgoing: ServerResponse) => void): Promise<IncomingMessage & { text: string }> {
  const server = createServer((_incoming, outgoing) => handle(outgoing));
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  try {
    return await new Promise((resolve, reject) => {
      const req = request({ host: '127.0.0.1', port: (server.address() as AddressInfo).port, path: '/' }, (response) => {
        let text = '';
        response.setEncoding('utf8');
        response.on('data', (chunk: string) => {
          text += chunk;
        });
        response.on('end', () => resolve(Object.assign(response, { text })));
      });
      req.on('error', reject);
      req.end();
    });
  } finally {
    server.closeAllConnections();
    server.close();
  }
}

/** Header names as sent, lower-cased, in order (duplicates kept). */
const names = (response: IncomingMessage) => response.rawHeaders.filter((_, i) => i % 2 === 0).map((name) => name.toLowerCase());

describe('writeS3Head', () => {
  it('sends the request id (twice), Server and the given headers, each once', async () => {
    const response = await serve((outgoing) => {
      startS3Response(outgoing, 'REQ123');
      writeS3Head(outgoing, 200, { 'Content-Type': 'application/octet-stream', ETag: '"abc"', 'Content-Length': '2' });
      outgoing.end('hi');
    });
    expect([response.statusCode, response.text]).toEqual([200, 'hi']);
    expect(response.headers).toMatchObject({
      'x-amz-request-id': 'REQ123',
      'x-amz-id-2': 'REQ123',
      server: 'CloudStorage',
      etag: '"abc"',
      'content-type': 'application/octet-stream',
    });
    const sent = names(response);
    expect(sent.length).toBe(new Set(sent).size);
  });

  it('keeps headers a request set before (CORS, rate limits), the given ones winning, none twice', async () => {
    const response = await serve((outgoing) => {
      startS3Response(outgoing, 'REQ456');
      outgoing.setHeader('Access-Control-Allow-Origin', 'https://app.example');
      outgoing.setHeader('X-RateLimit-Remaining', '9');
      outgoing.setHeader('Content-Type', 'text/plain');
      writeReply(xmlResponse('<a/>', 404), outgoing);
    });
    expect([response.statusCode, response.text]).toEqual([404, '<a/>']);
    expect(response.headers).toMatchObject({
      'access-control-allow-origin': 'https://app.example',
      'x-ratelimit-remaining': '9',
      'content-type': 'application/xml',
      'x-amz-request-id': 'REQ456',
      'content-length': '4',
    });
    const sent = names(response);
    expect(sent.length).toBe(new Set(sent).size);
  });

  it('fields added to the response (rate limits) go into its head once, the last value of each, the handler’s same header winning', async () => {
    const response = await serve((outgoing) => {
      startS3Response(outgoing, 'REQ789');
      addS3HeadFields(outgoing, { 'X-RateLimit-Limit': '10', 'X-RateLimit-Remaining': '9' });
      // Counted again (an upload whose charge ran alone): the later figures replace the first.
      addS3HeadFields(outgoing, { 'X-RateLimit-Remaining': '8', 'X-RateLimit-Reset': '1700000000' });
      addS3HeadFields(outgoing, { 'X-Test': 'from the request' });
      writeReply(xmlResponse('<a/>', 429, { 'X-Test': 'from the handler', 'Retry-After': '3' }), outgoing);
    });
    expect(response.statusCode).toBe(429);
    expect(response.headers).toMatchObject({
      'x-ratelimit-limit': '10',
      'x-ratelimit-remaining': '8',
      'x-ratelimit-reset': '1700000000',
      'x-test': 'from the handler',
      'retry-after': '3',
      'x-amz-request-id': 'REQ789',
    });
    const sent = names(response);
    expect(sent.length).toBe(new Set(sent).size);
  });

  it('a response nobody gave an id still gets one, the same in both headers', async () => {
    const response = await serve((outgoing) => writeReply(xmlResponse('<a/>', 500), outgoing));
    expect(response.headers['x-amz-request-id']).toMatch(/^[0-9A-F]{16}$/);
    expect(response.headers['x-amz-id-2']).toBe(response.headers['x-amz-request-id']);
  });
});
