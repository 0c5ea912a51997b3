import { connect, type Socket } from 'node:net';

export interface RawHttpResponse {
  status: number;
  /** Lowercased names; the last value of a repeated header. */
  headers: Record<string, string>;
  body: string;
  // eslint-disable-next-line @typescript-eslint/no-explicit-any
  json: any;
}

function decodeChunked(raw: Buffer): Buffer | undefined {
  const parts: Buffer[] = [];
  let offset = 0;
  for (;;) {
    const lineEnd = raw.indexOf('\r\n', offset);
    if (lineEnd < 0) return undefined;
    const size = parseInt(raw.subarray(offset, lineEnd).toString('latin1'), 16);
    if (size === 0) return Buffer.concat(parts);
    if (raw.length < lineEnd + 2 + size + 2) return undefined;
    parts.push(raw.subarray(lineEnd + 2, lineEnd + 2 + size));
    offset = lineEnd + 2 + size + 2;
  }
}

/**
 * One HTTP/1.1 exchange over a bare TCP socket, byte for byte: `head` is the request line and
 * header lines (no blank line), written first; `send` may then write any body, or part of one, or
 * nothing. Resolves with the first complete response *without waiting for the request to end*, so
 * a test can prove a server answered before it read a body the client never finished sending.
 * Write errors after the answer (the server closing a connection whose body it refused) are ignored.
 */
export function rawHttp(port: number, head: string[], send?: (socket: Socket) => void): Promise<RawHttpResponse> {
  return new Promise((resolve, reject) => {
    const socket = connect({ host: '127.0.0.1', port });
    let received = Buffer.alloc(0);
    let settled = false;
    const finish = (error?: Error, response?: RawHttpResponse) => {
      if (settled) return;
      settled = true;
      socket.destroy();
      if (response) resolve(response);
      else reject(error ?? new Error('connection closed before a complete response'));
    };
    const tryParse = (closed: boolean) => {
      const headEnd = received.indexOf('\r\n\r\n');
      if (headEnd < 0) return closed ? finish() : undefined;
      const [statusLine, ...lines] = received.subarray(0, headEnd).toString('latin1').split('\r\n');
      const status = Number(/^HTTP\/1\.[01] (\d{3})/.exec(statusLine!)?.[1]);
      const headers: Record<string, string> = {};
      for (const line of lines) {
        const colon = line.indexOf(':');
        headers[line.slice(0, colon).trim().toLowerCase()] = line.slice(colon + 1).trim();
      }
      const rest = received.subarray(headEnd + 4);
      let body: Buffer | undefined;
      if (headers['content-length'] !== undefined) {
        const length = Number(headers['content-length']);
        if (rest.length >= length) body = rest.subarray(0, length);
      } else if (/chunked/i.test(headers['transfer-encoding'] ?? '')) {
        body = decodeChunked(rest);
      } else if (closed) {
        body = rest;
      }
      if (body === undefined) return closed ? finish() : undefined;
      const text = body.toString('utf8');
      let json: unknown;
      try {
        json = text ? JSON.parse(text) : undefined;
      } catch {
        json = undefined;
      }
      finish(undefined, { status, headers, body: text, json });
    };
    socket.on('data', (chunk: Buffer) => {
      received = Buffer.concat([received, chunk]);
      tryParse(false);
    });
    socket.on('end', () => tryParse(true));
    socket.on('close', () => tryParse(true));
    socket.on('error', (error) => {
      // A reset may still leave a complete response in `received`.
      tryParse(true);
      finish(error);
    });
    socket.on('connect', () => {
      socket.write(`${head.join('\r\n')}\r\n\r\n`);
      send?.(socket);
    });
  });
}

/** Writes `body` as HTTP/1.1 chunks of `chunkSize` bytes and, unless `finish` is false, the last-chunk. */
export function writeChunked(socket: Socket, body: Buffer, options: { chunkSize?: number; finish?: boolean } = {}) {
  const chunkSize = options.chunkSize ?? 16 * 1024;
  for (let sent = 0; sent < body.length; sent += chunkSize) {
    const chunk = body.subarray(sent, sent + chunkSize);
    socket.write(`${chunk.length.toString(16)}\r\n`);
    socket.write(chunk);
    socket.write('\r\n');
  }
  if (options.finish !== false) socket.write('0\r\n\r\n');
}
