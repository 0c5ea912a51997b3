import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';

/**
 * A tiny static page server on its own loopback port, so a page loaded from it is on another
 * origin than the gateway (`http://127.0.0.1:<other port>`): what browser CORS tests need.
 * `pages` maps a path (`/`, `/upload.html`) to HTML; anything else is 404.
 */
export interface PageServer {
  /** `http://127.0.0.1:<port>`, the Origin the browser sends from these pages. */
  origin: string;
  url(path?: string): string;
  /** Adds or replaces a page. */
  setPage(path: string, html: string): void;
  close(): Promise<void>;
}

export async function startPageServer(pages: Record<string, string> = {}): Promise<PageServer> {
  const served = new Map(Object.entries(pages));
  const server = createServer((request, response) => {
    const html = served.get((request.url ?? '/').split('?')[0]);
    if (html === undefined) {
      response.writeHead(404, { 'Content-Type': 'text/plain' }).end('not found');
      return;
    }
    response.writeHead(200, { 'Content-Type': 'text/html; charset=utf-8', 'Cache-Control': 'no-store' }).end(html);
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => resolve());
  });
  const origin = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  return {
    origin,
    url: (path = '/') => `${origin}${path}`,
    setPage: (path, html) => void served.set(path, html),
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
