import { createHash } from 'node:crypto';
import type { PublicShareInfo } from './shares.usecases.ts';

/**
 * The public landing page of a share link (`GET /s/{code}`): plain HTML, no JavaScript, one
 * inline stylesheet allowed by its hash. Every user-supplied string (file name, code, messages)
 * goes through `escapeHtml`; nothing about the owner (email, bucket, key, backend) is shown.
 */

const STYLE = [
  'body{font-family:system-ui,sans-serif;background:#f4f5f7;color:#1d2330;margin:0;display:flex;min-height:100vh;align-items:center;justify-content:center}',
  'main{background:#fff;border-radius:12px;box-shadow:0 2px 12px rgba(0,0,0,.08);padding:2rem;max-width:28rem;width:100%}',
  'h1{font-size:1.25rem;word-break:break-all;margin:0 0 .5rem}',
  'p{margin:.25rem 0;color:#4a5160}',
  '.error{color:#b42318;font-weight:600}',
  'form{margin-top:1.25rem;display:flex;flex-direction:column;gap:.5rem}',
  'input{font:inherit;padding:.5rem;border:1px solid #c4c8d0;border-radius:6px}',
  'button{font:inherit;padding:.6rem;border:0;border-radius:6px;background:#2457d6;color:#fff;cursor:pointer}',
  'small{color:#8a90a0}',
].join('');

/** `style-src` allows exactly this stylesheet: no inline style an injected string could add would match. */
const STYLE_HASH = `'sha256-${createHash('sha256').update(STYLE).digest('base64')}'`;

/** No script at all, no framing, forms only to us, no base tag, no other fetches. */
export const SHARE_PAGE_CSP = `default-src 'none'; style-src ${STYLE_HASH}; img-src 'none'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'`;

export const SHARE_PAGE_HEADERS: Record<string, string> = {
  'Content-Type': 'text/html; charset=utf-8',
  'Content-Security-Policy': SHARE_PAGE_CSP,
  'X-Content-Type-Options': 'nosniff',
  'X-Frame-Options': 'DENY',
  'Referrer-Policy': 'no-referrer',
  // The page reflects live state (downloads left, expiry): never from a cache.
  'Cache-Control': 'no-store',
};

const ESCAPES: Record<string, string> = { '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' };
export const escapeHtml = (value: string): string => value.replace(/[&<>"']/g, (char) => ESCAPES[char]!);

export function formatBytes(size: number): string {
  const units = ['bytes', 'KB', 'MB', 'GB', 'TB'];
  let value = size;
  let unit = 0;
  while (value >= 1024 && unit < units.length - 1) {
    value /= 1024;
    unit += 1;
  }
  return unit === 0 ? `${size} bytes` : `${value.toFixed(1)} ${units[unit]}`;
}

function layout(title: string, body: string): string {
  return (
    `<!doctype html><html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width,initial-scale=1">` +
    `<meta name="robots" content="noindex"><title>${escapeHtml(title)}</title><style>${STYLE}</style></head>` +
    `<body><main>${body}</main></body></html>`
  );
}

/** The share: name, size, expiry, a password field when protected, and the download button (a POST, so link previewers never spend a download). */
export function renderSharePage(info: PublicShareInfo, options: { error?: string } = {}): string {
  const facts: string[] = [];
  facts.push(info.kind === 'folder' ? 'Folder, downloaded as a zip archive' : formatBytes(info.size ?? 0));
  if (info.expiresAt) facts.push(`Expires ${new Date(info.expiresAt).toUTCString()}`);
  if (info.downloadsRemaining !== null) facts.push(`${info.downloadsRemaining} download${info.downloadsRemaining === 1 ? '' : 's'} left`);
  const action = `/s/${encodeURIComponent(info.code)}/download`;
  const password = info.passwordProtected
    ? `<label for="password">This file is password protected.</label><input id="password" name="password" type="password" autocomplete="off" required autofocus>`
    : '';
  return layout(
    info.fileName,
    `<h1>${escapeHtml(info.fileName)}</h1>` +
      facts.map((fact) => `<p>${escapeHtml(fact)}</p>`).join('') +
      (options.error ? `<p class="error" role="alert">${escapeHtml(options.error)}</p>` : '') +
      `<form method="post" action="${escapeHtml(action)}">${password}<button type="submit">Download</button></form>`,
  );
}

/** 404 (unknown code), 410 (expired, exhausted, deactivated, deleted), 429: a sentence and nothing else. */
export function renderMessagePage(title: string, message: string, requestId?: string): string {
  return layout(title, `<h1>${escapeHtml(title)}</h1><p>${escapeHtml(message)}</p>${requestId ? `<p><small>Request ${escapeHtml(requestId)}</small></p>` : ''}`);
}
