import { XMLParser } from 'fast-xml-parser';
import { S3Error } from '../errors/s3-errors.ts';

/**
 * The one XML renderer: `text()` for escaped leaf values, `node()` for elements with rendered
 * children (arrays flattened, undefined/false dropped so optional elements read naturally),
 * `document()` for a namespaced response, `errorDocument()` for S3 errors.
 */
export type XmlNode = string | undefined | false | null | XmlNode[];

const ESCAPES: Record<string, string> = { '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&apos;' };

export function escapeXml(value: string): string {
  // Characters XML 1.0 cannot carry at all are rendered as numeric references S3 also uses.
  // biome-ignore lint/suspicious/noControlCharactersInRegex: matching those control characters is the point
  return value.replace(/[&<>"']/g, (char) => ESCAPES[char]).replace(/[\u0000-\u0008\u000B\u000C\u000E-\u001F]/g, (char) => `&#x${char.charCodeAt(0).toString(16)};`);
}

function renderChildren(children: XmlNode[]): string {
  let out = '';
  for (const child of children) {
    if (child === undefined || child === null || child === false) continue;
    out += Array.isArray(child) ? renderChildren(child) : child;
  }
  return out;
}

/** Optional element: nothing when the value is undefined. */
export function opt(name: string, value: string | number | boolean | Date | undefined): string | undefined {
  return value === undefined ? undefined : text(name, value);
}

/** Element with a text value (always escaped). */
export function text(name: string, value: string | number | boolean | Date): string {
  const str = value instanceof Date ? value.toISOString() : String(value);
  return `<${name}>${escapeXml(str)}</${name}>`;
}

/** Element with already-rendered children. */
export function node(name: string, ...children: XmlNode[]): string {
  return `<${name}>${renderChildren(children)}</${name}>`;
}

const XML_DECLARATION = '<?xml version="1.0" encoding="UTF-8"?>\n';
const S3_NAMESPACE = 'http://s3.amazonaws.com/doc/2006-03-01/';

export function document(rootName: string, ...children: XmlNode[]): string {
  return `${XML_DECLARATION}<${rootName} xmlns="${S3_NAMESPACE}">${renderChildren(children)}</${rootName}>`;
}

/** A root element holding only text, e.g. `<LocationConstraint>eu-central-1</LocationConstraint>`. */
export function textDocument(rootName: string, value: string): string {
  return `${XML_DECLARATION}<${rootName} xmlns="${S3_NAMESPACE}">${escapeXml(value)}</${rootName}>`;
}

export function errorDocument(error: S3Error, resource: string, requestId: string): string {
  const details = Object.entries(error.details).map(([name, value]) => text(name, value));
  return `${XML_DECLARATION}${node('Error', text('Code', error.code), text('Message', error.message), details, text('Resource', resource), text('RequestId', requestId))}`;
}

/** S3 XML as clients and stores write it: text kept verbatim, namespaces dropped, entities decoded. */
export function s3XmlParser(isArray: (name: string, path: unknown) => boolean): XMLParser {
  return new XMLParser({
    ignoreAttributes: true,
    removeNSPrefix: true,
    parseTagValue: false,
    trimValues: false,
    processEntities: true,
    // Go's encoder (rclone, minio-go) writes quotes and apostrophes as &#34; and &#39;.
    htmlEntities: true,
    isArray: (name, path) => isArray(name, path),
  });
}

const parser = s3XmlParser((name) => ['Object', 'Part', 'Tag'].includes(name));

/** Parses a small request body (DeleteObjects, CompleteMultipartUpload, Tagging); MalformedXML on any problem. */
export function parseXml(body: string): Record<string, unknown> {
  if (body.trim() === '') throw new S3Error('MalformedXML');
  try {
    const parsed = parser.parse(body, true) as Record<string, unknown>;
    return parsed;
  } catch {
    throw new S3Error('MalformedXML');
  }
}
