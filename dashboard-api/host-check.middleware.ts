import type { MiddlewareHandler } from 'hono';
import { jsonError } from './errors.ts';

/**
 * The host name of a Host header value (`name`, `name:port`, `[v6]`, `[v6]:port`), lowercased and
 * without a trailing dot; undefined when it is not a well-formed host.
 */
export function hostNameOf(host: string | undefined): string | undefined {
  if (host === undefined) return undefined;
  const match = /^(\[[0-9a-f:.]+\]|[a-z0-9_.-]+)(?::\d{1,5})?$/i.exec(host.trim());
  if (!match) return undefined;
  const name = match[1]!.toLowerCase().replace(/\.$/, '');
  return name === '' ? undefined : name;
}

/**
 * Loopback names, which no DNS answer controls: `localhost` and `*.localhost` (RFC 6761; browsers
 * resolve them to loopback themselves), 127.0.0.0/8 as a dotted quad, and `[::1]`.
 */
export function isLoopbackHost(name: string): boolean {
  if (name === 'localhost' || name.endsWith('.localhost') || name === '[::1]') return true;
  const octets = /^127\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})$/.exec(name);
  return octets !== null && octets.slice(1).every((octet) => Number(octet) <= 255);
}

function matchesAllowed(name: string, allowed: readonly string[]): boolean {
  return allowed.some((entry) => entry === '*' || entry === name || (entry.startsWith('.') && (name.endsWith(entry) || name === entry.slice(1))));
}

/**
 * Refuses requests whose Host header names a host this server does not serve (421
 * `invalid_host`), against DNS rebinding: a page on attacker.example that re-resolves its name to
 * 127.0.0.1 reaches this server from the victim's browser with `Host: attacker.example`, and,
 * without PUBLIC_URL, the CSRF check derives "our origin" from that very Host, so sign-up and
 * sign-in would accept it as same-origin. A rebinding attacker controls DNS for its own name only,
 * so accepting loopback names (no DNS involved), PUBLIC_URL's host and the operator's
 * ALLOWED_HOSTS leaves it nothing; a fresh install on localhost works with curl and a browser.
 * The port is not compared: rebinding cannot change the name, whatever the port.
 */
export function hostCheck(options: { publicUrl: string | undefined; allowedHosts: readonly string[] }): MiddlewareHandler {
  const allowed = [...options.allowedHosts.map((entry) => entry.toLowerCase())];
  if (options.publicUrl) allowed.push(new URL(options.publicUrl).hostname.toLowerCase());
  return async (c, next) => {
    const header = c.req.header('host');
    const name = hostNameOf(header);
    if (name !== undefined && (isLoopbackHost(name) || matchesAllowed(name, allowed))) return next();
    const shown = header === undefined ? 'no Host header' : `host "${header.slice(0, 255)}"`;
    return jsonError(
      c,
      421,
      'invalid_host',
      `This server does not answer to ${shown}. Use a loopback address (http://localhost:PORT), or have the operator add the host name to ALLOWED_HOSTS or set PUBLIC_URL.`,
    );
  };
}
