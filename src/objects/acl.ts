import type { IncomingHttpHeaders } from 'node:http';
import { S3Error } from '../errors/s3-errors.ts';
import { node, s3XmlParser, text } from '../s3-protocol/xml.ts';

/**
 * Canned ACLs, the only access control lists this server keeps: the owner always has
 * FULL_CONTROL; `public-read` adds READ for everyone (AWS's AllUsers group, anonymous requests
 * included), `authenticated-read` READ for any caller with a valid key of any account
 * (AuthenticatedUsers). READ means GET/HEAD of an object, and listing of a bucket; a bucket's ACL
 * does not open its objects (as on AWS, object reads follow the object's own ACL).
 *
 * Everything else S3 can express (WRITE grants, grants to an account id or e-mail, the other
 * canned ACLs) is refused with NotImplemented rather than stored half-understood.
 */
export const CANNED_ACLS = ['private', 'public-read', 'authenticated-read'] as const;
export type CannedAcl = (typeof CANNED_ACLS)[number];
/** The canned ACLs that grant something beyond the owner (the ones stored and that claim a public name). */
export type NonPrivateAcl = Exclude<CannedAcl, 'private'>;

/** Canned ACLs AWS defines that we do not implement: they grant writes, or grants to principals we have no notion of. */
const UNSUPPORTED_CANNED_ACLS = new Set(['public-read-write', 'aws-exec-read', 'log-delivery-write', 'bucket-owner-read', 'bucket-owner-full-control']);
const GRANT_HEADERS = ['x-amz-grant-read', 'x-amz-grant-write', 'x-amz-grant-read-acp', 'x-amz-grant-write-acp', 'x-amz-grant-full-control'] as const;

export const ALL_USERS_URI = 'http://acs.amazonaws.com/groups/global/AllUsers';
export const AUTHENTICATED_USERS_URI = 'http://acs.amazonaws.com/groups/global/AuthenticatedUsers';

const UNSUPPORTED_GRANTS_MESSAGE =
  'Grants to an account id, e-mail address or group beyond the canned ACLs are not implemented by this server: use a canned ACL (private, public-read or authenticated-read).';

export const isNonPrivate = (acl: CannedAcl | undefined): acl is NonPrivateAcl => acl !== undefined && acl !== 'private';

/**
 * A canned ACL as a client names it: the `x-amz-acl` header, or the `acl` field of a POST form
 * upload (the POST Object handler calls this with the field). undefined: none given.
 */
export function parseCannedAcl(value: string | undefined, argumentName = 'x-amz-acl'): CannedAcl | undefined {
  if (value === undefined) return undefined;
  const acl = value.trim();
  if ((CANNED_ACLS as readonly string[]).includes(acl)) return acl as CannedAcl;
  if (UNSUPPORTED_CANNED_ACLS.has(acl)) {
    throw new S3Error('NotImplemented', `The canned ACL ${acl} is not implemented by this server: only private, public-read and authenticated-read are.`);
  }
  throw new S3Error('InvalidArgument', `${acl} is not a valid canned ACL.`, { details: { ArgumentName: argumentName, ArgumentValue: acl } });
}

/**
 * The canned ACL a request asks for (CreateBucket, PutObject, CopyObject, CreateMultipartUpload,
 * PutBucketAcl, PutObjectAcl); undefined when it names none. `x-amz-grant-*` headers are refused:
 * they grant by id, e-mail or URI.
 */
export function cannedAclOfRequest(headers: IncomingHttpHeaders): CannedAcl | undefined {
  for (const name of GRANT_HEADERS) if (headers[name] !== undefined) throw new S3Error('NotImplemented', `${name}: ${UNSUPPORTED_GRANTS_MESSAGE}`);
  const value = headers['x-amz-acl'];
  return parseCannedAcl(Array.isArray(value) ? value[0] : value);
}

export interface AclOwner {
  id: string;
  displayName: string;
}

const XSI = 'xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance"';

function grant(grantee: string, permission: string): string {
  return node('Grant', grantee, text('Permission', permission));
}

/** GetBucketAcl/GetObjectAcl: AWS's AccessControlPolicy document (owner FULL_CONTROL plus the canned grants). */
export function accessControlPolicyXml(owner: AclOwner, acl: CannedAcl): string {
  const ownerFields = [text('ID', owner.id), text('DisplayName', owner.displayName)];
  const grants = [grant(`<Grantee ${XSI} xsi:type="CanonicalUser">${ownerFields.join('')}</Grantee>`, 'FULL_CONTROL')];
  if (acl === 'public-read') grants.push(grant(`<Grantee ${XSI} xsi:type="Group">${text('URI', ALL_USERS_URI)}</Grantee>`, 'READ'));
  if (acl === 'authenticated-read') grants.push(grant(`<Grantee ${XSI} xsi:type="Group">${text('URI', AUTHENTICATED_USERS_URI)}</Grantee>`, 'READ'));
  return `<?xml version="1.0" encoding="UTF-8"?>\n<AccessControlPolicy xmlns="http://s3.amazonaws.com/doc/2006-03-01/">${node('Owner', ownerFields)}${node('AccessControlList', grants)}</AccessControlPolicy>`;
}

const policyParser = s3XmlParser((name) => name === 'Grant');

const str = (value: unknown): string | undefined => (typeof value === 'string' ? value.trim() : undefined);

/**
 * PutBucketAcl/PutObjectAcl with an `AccessControlPolicy` body: accepted only when it is exactly
 * what a canned ACL means (the owner's FULL_CONTROL, plus READ for AllUsers or AuthenticatedUsers),
 * so what GetObjectAcl answers can be sent back unchanged. Anything else is NotImplemented.
 */
export function parseAccessControlPolicy(body: string, ownerId: string): CannedAcl {
  let parsed: Record<string, unknown>;
  try {
    parsed = policyParser.parse(body, true) as Record<string, unknown>;
  } catch {
    throw new S3Error('MalformedACLError');
  }
  const policy = parsed.AccessControlPolicy as { Owner?: { ID?: unknown }; AccessControlList?: { Grant?: unknown[] } | string } | undefined;
  if (!policy || typeof policy !== 'object') throw new S3Error('MalformedACLError');
  const ownerInBody = typeof policy.Owner === 'object' ? str(policy.Owner.ID) : undefined;
  if (ownerInBody !== undefined && ownerInBody !== ownerId) throw new S3Error('NotImplemented', 'Changing the owner of a bucket or object is not implemented by this server.');
  const grants = typeof policy.AccessControlList === 'object' ? (policy.AccessControlList.Grant ?? []) : [];
  let ownerFullControl = false;
  let group: string | undefined;
  for (const entry of grants) {
    const grantEntry = entry as { Grantee?: Record<string, unknown>; Permission?: unknown };
    if (!grantEntry || typeof grantEntry !== 'object' || typeof grantEntry.Grantee !== 'object' || grantEntry.Grantee === null) throw new S3Error('MalformedACLError');
    const permission = str(grantEntry.Permission);
    const id = str(grantEntry.Grantee.ID);
    const uri = str(grantEntry.Grantee.URI);
    if (id !== undefined && id === ownerId && permission === 'FULL_CONTROL' && !ownerFullControl) {
      ownerFullControl = true;
      continue;
    }
    if (uri !== undefined && (uri === ALL_USERS_URI || uri === AUTHENTICATED_USERS_URI) && permission === 'READ' && group === undefined) {
      group = uri;
      continue;
    }
    throw new S3Error('NotImplemented', UNSUPPORTED_GRANTS_MESSAGE);
  }
  // Without the owner's FULL_CONTROL the owner would lock itself out, which we cannot represent.
  if (!ownerFullControl) throw new S3Error('NotImplemented', `${UNSUPPORTED_GRANTS_MESSAGE} The owner's FULL_CONTROL grant must be kept.`);
  if (group === ALL_USERS_URI) return 'public-read';
  if (group === AUTHENTICATED_USERS_URI) return 'authenticated-read';
  return 'private';
}

/** Who reads beyond the owner: nobody signed (anonymous) or another account's valid key (authenticated). */
export type ForeignReader = 'anonymous' | 'authenticated';

/** Whether a canned ACL grants READ to such a reader. */
export function aclGrantsRead(acl: CannedAcl | undefined, reader: ForeignReader): boolean {
  if (acl === 'public-read') return true;
  return acl === 'authenticated-read' && reader === 'authenticated';
}
