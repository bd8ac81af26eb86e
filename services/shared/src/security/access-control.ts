import { Code, ConnectError } from "@connectrpc/connect";
import type { Metadata } from "@grpc/grpc-js";
import type { AccessPolicy } from "./access-policy.js";
import { serviceId } from "./identity.js";
import { peerIdentity, type TlsPeerCall } from "./peer-identity.js";
import { PRINCIPAL_HEADERS, type Caller, type Principal } from "./principal.js";

/** Admission is what the kit learnt about an admitted call: who made it, and for which end user (if any). */
export interface Admission {
  readonly caller: Caller;
  readonly principal: Principal | undefined;
}

/** AdmittableCall is the part of a grpc-js server call admission reads. */
export interface AdmittableCall extends TlsPeerCall {
  readonly metadata: Metadata;
}

/**
 * AccessControl admits or denies each call before its handler runs: the service kit's one enforcement point of
 * the access policy and of "only the gateway asserts a principal".
 */
export interface AccessControl {
  /** enforced is false under MESH_INSECURE=1: no identities, so nothing can be enforced. */
  readonly enforced: boolean;
  /** admit answers the call's Admission, or the PERMISSION_DENIED error to fail it with. */
  admit(call: AdmittableCall, method: string): Admission | ConnectError;
}

/** MAX_SUBJECT_LENGTH bounds an asserted subject; the gateway's tokens carry far shorter ones. */
const MAX_SUBJECT_LENGTH = 256;

const GATEWAY_ID = serviceId("gateway");

/**
 * accessControl enforces `policy` on the caller's certificate identity (mTLS), or, without a policy
 * (MESH_INSECURE=1), admits every call and takes the principal headers from whoever sends them: over plaintext
 * there is no way to tell the gateway from anyone else, which is exactly why plaintext must be asked for.
 */
export function accessControl(policy: AccessPolicy | undefined): AccessControl {
  return {
    enforced: policy !== undefined,
    admit(call, method) {
      const identity = policy === undefined ? undefined : peerIdentity(call);
      if (policy !== undefined && !policy.allows(method, identity)) {
        return denied(`${identity ?? "a caller without a mesh identity"} may not call ${method} (policy/access.yaml)`);
      }
      const principal = principalOf(call.metadata);
      if (principal instanceof ConnectError) return principal;
      if (principal !== undefined && policy !== undefined && identity !== GATEWAY_ID) {
        return denied(`${identity} may not assert an end user (${PRINCIPAL_HEADERS.subject}) on ${method}: only the gateway may`);
      }
      return { caller: { identity }, principal };
    },
  };
}

/** principalOf reads the asserted principal, undefined when none, or the error a malformed one gets. */
function principalOf(metadata: Metadata): Principal | ConnectError | undefined {
  const subject = single(metadata, PRINCIPAL_HEADERS.subject);
  const scopes = single(metadata, PRINCIPAL_HEADERS.scopes);
  if (subject === undefined && scopes === undefined) return undefined;
  if (subject == null || subject === "" || subject.length > MAX_SUBJECT_LENGTH || scopes === null) {
    return denied(
      `a principal needs one ${PRINCIPAL_HEADERS.subject} of 1 to ${MAX_SUBJECT_LENGTH} characters and at most one ${PRINCIPAL_HEADERS.scopes}`,
    );
  }
  return Object.freeze({ subject, scopes: Object.freeze((scopes ?? "").split(" ").filter(Boolean)) });
}

/** single is a header's one value, undefined when absent, null when repeated or binary (malformed). */
function single(metadata: Metadata, key: string): string | undefined | null {
  const values = metadata.get(key);
  if (values.length === 0) return undefined;
  // Two values would let a proxy's appended header be read instead of the gateway's: refuse rather than pick.
  if (values.length > 1) return null;
  return typeof values[0] === "string" ? values[0] : null;
}

function denied(message: string): ConnectError {
  return new ConnectError(message, Code.PermissionDenied);
}
