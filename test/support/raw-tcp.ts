import { connect, type Socket } from 'node:net';

export interface RawConnection {
  socket: Socket;
  /** Everything the server sent so far. */
  received(): string;
  /** Settles when the server closes (or resets) the connection, with everything it sent. */
  closed: Promise<string>;
  /** Settles once the received bytes match `pattern` (e.g. `100 Continue`, a status line). */
  waitFor(pattern: RegExp): Promise<string>;
}

/**
 * A bare TCP connection that writes exactly what it is told, when it is told: an HTTP request
 * can stop mid-body and stay open (a stalled upload) or be cut (a client abort), which an HTTP
 * client library would not do.
 */
export async function openRawConnection(endpoint: string): Promise<RawConnection> {
  const url = new URL(endpoint);
  const socket = connect({ host: url.hostname, port: Number(url.port) });
  await new Promise<void>((resolve, reject) => {
    socket.once('connect', resolve);
    socket.once('error', reject);
  });
  let data = '';
  const waiters: { pattern: RegExp; resolve: (text: string) => void }[] = [];
  socket.on('data', (chunk: Buffer) => {
    data += chunk.toString('latin1');
    for (const waiter of [...waiters]) {
      if (waiter.pattern.test(data)) {
        waiters.splice(waiters.indexOf(waiter), 1);
        waiter.resolve(data);
      }
    }
  });
  // A reset from the server is a close like any other here.
  socket.on('error', () => undefined);
  const closed = new Promise<string>((resolve) => socket.once('close', () => resolve(data)));
  return {
    socket,
    received: () => data,
    closed,
    waitFor: (pattern) => (pattern.test(data) ? Promise.resolve(data) : new Promise((resolve) => waiters.push({ pattern, resolve }))),
  };
}

/** The request line and headers of an HTTP/1.1 request, ready to write. */
export function requestHead(method: string, path: string, headers: Record<string, string>): string {
  return `${method} ${path} HTTP/1.1\r\n${Object.entries(headers)
    .map(([name, value]) => `${name}: ${value}\r\n`)
    .join('')}\r\n`;
}

/** `promise`'s value, or `fallback` if it has not settled within `ms` (a guard so a test fails instead of hanging). */
export function within<T, F>(promise: Promise<T>, ms: number, fallback: F): Promise<T | F> {
  let timer: NodeJS.Timeout | undefined;
  return Promise.race([promise, new Promise<F>((resolve) => (timer = setTimeout(() => resolve(fallback), ms)))]).finally(() => clearTimeout(timer));
}

export const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
