// Who a verified service-account token names, and which waypoint that identity may fetch. A waypoint's
// Deployment runs as a ServiceAccount named after its Gateway (services/translator/src/infra), so the
// identity (namespace, serviceaccount) may fetch waypoint (namespace, gateway = serviceaccount) only.
import type { WaypointRef } from "@waymark/api";
import { type JwtClaims, TokenError } from "./jwt.ts";

export interface ProxyIdentity {
  namespace: string;
  serviceAccount: string;
  /** The pod the token is bound to, when it is. */
  pod: string | undefined;
  /** The token's expiry, ms since the epoch. */
  expiresAt: number;
}

const isRec = (v: unknown): v is Record<string, unknown> =>
  typeof v === "object" && v !== null && !Array.isArray(v);

/** The identity of a Kubernetes service-account token's claims (`kubernetes.io`, checked against `sub`). */
export function identityOf(claims: JwtClaims): ProxyIdentity {
  const k = claims["kubernetes.io"];
  const sa = isRec(k) ? k["serviceaccount"] : undefined;
  const namespace = isRec(k) ? k["namespace"] : undefined;
  const name = isRec(sa) ? sa["name"] : undefined;
  if (typeof namespace !== "string" || !namespace || typeof name !== "string" || !name)
    throw new TokenError(
      "malformed",
      "the token is not a Kubernetes service-account token (no kubernetes.io claim)",
    );
  if (claims.sub !== `system:serviceaccount:${namespace}:${name}`)
    throw new TokenError(
      "malformed",
      `the token's subject ${JSON.stringify(claims.sub ?? null)} does not name service account ${namespace}/${name}`,
    );
  const pod =
    isRec(k) && isRec(k["pod"]) && typeof k["pod"]["name"] === "string" ? k["pod"]["name"] : undefined;
  return { namespace, serviceAccount: name, pod, expiresAt: Number(claims.exp) * 1000 };
}

/** Undefined when the identity may fetch the waypoint, else why not. */
export function refusal(id: ProxyIdentity, waypoint: WaypointRef): string | undefined {
  if (id.namespace === waypoint.namespace && id.serviceAccount === waypoint.name) return undefined;
  return `service account ${id.namespace}/${id.serviceAccount} may only fetch waypoint ${id.namespace}/${id.serviceAccount}, not ${waypoint.namespace}/${waypoint.name}`;
}
