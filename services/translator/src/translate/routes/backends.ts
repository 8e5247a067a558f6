// HTTPRoute backendRefs → clusters. Core Services, and Istio ServiceEntries (kind ServiceEntry, or
// kind Hostname naming one of its hosts, group networking.istio.io, as Istio reads them); a backend
// in another namespace needs a ReferenceGrant (in the backend's namespace) from HTTPRoutes of the
// route's namespace, except the Service the route is attached to as parent (a GAMMA consumer route
// sending to its own Service).
import { GATEWAY_GROUP } from "@waymark/api";
import { int, isRecord, records, str } from "../input/guards.ts";
import { clusterName, entryClusterName } from "../input/names.ts";
import type { ObjectIndex, ServiceInfo, ServicePortInfo } from "../input/objects.ts";
import { ISTIO_NETWORKING_GROUP } from "../input/serviceentry.ts";

/** A service port some cluster sends to. */
export interface BackendTarget {
  service: ServiceInfo;
  port: ServicePortInfo;
  cluster: string;
  /**
   * A GRPCRoute sends to it: its cluster must speak HTTP/2 to gRPC clients even when the port is not
   * marked HTTP/2 (xds/clusters.ts).
   */
  grpc?: true;
}

export type BackendReason = "BackendNotFound" | "RefNotPermitted" | "InvalidKind";

export type BackendResult =
  | { ok: true; target: BackendTarget; weight: number }
  | { ok: false; reason: BackendReason; message: string };

export function isCoreGroup(group: string | undefined): boolean {
  return group === undefined || group === "" || group === "core";
}

/**
 * Whether a ReferenceGrant in `toNamespace` lets routes of `fromKind` (HTTPRoute, GRPCRoute, ...) of
 * `fromNamespace` use the backend `name` of kind `to` (a Service unless said).
 */
export function referenceGranted(
  index: ObjectIndex,
  fromNamespace: string,
  toNamespace: string,
  name: string,
  fromKind = "HTTPRoute",
  /** The backend's kind and group (a ServiceEntry's: networking.istio.io). */
  to: { kind: string; group: string } = { kind: "Service", group: "" },
): boolean {
  for (const grant of index.referenceGrants.get(toNamespace) ?? []) {
    const spec = isRecord(grant.spec) ? grant.spec : {};
    const fromOk = records(spec.from).some(
      (f) => f.group === GATEWAY_GROUP && f.kind === fromKind && f.namespace === fromNamespace,
    );
    if (!fromOk) continue;
    const toOk = records(spec.to).some(
      (t) =>
        (to.group === "" ? isCoreGroup(str(t.group)) : str(t.group) === to.group) &&
        t.kind === to.kind &&
        (t.name === undefined || t.name === "" || t.name === name),
    );
    if (toOk) return true;
  }
  return false;
}

export function serviceTarget(service: ServiceInfo, port: ServicePortInfo): BackendTarget {
  const cluster = service.entry
    ? entryClusterName(service.namespace, service.name, service.entry.hosts[0] ?? "", port.port)
    : clusterName(service.namespace, service.name, port.port);
  return { service, port, cluster };
}

/**
 * @param parentServices `<ns>/<name>` of the Services the route names as parents: sending to one of
 *   them needs no ReferenceGrant.
 * @param routeKind the kind of the route (ReferenceGrants name it in `from`)
 */
export function resolveBackend(
  ref: unknown,
  routeNamespace: string,
  index: ObjectIndex,
  parentServices: ReadonlySet<string> = new Set(),
  routeKind = "HTTPRoute",
): BackendResult {
  if (!isRecord(ref))
    return { ok: false, reason: "BackendNotFound", message: "a backendRef is not an object" };
  const name = str(ref.name) ?? "";
  const group = str(ref.group);
  const kind = str(ref.kind) ?? "Service";
  if (group === ISTIO_NETWORKING_GROUP && (kind === "ServiceEntry" || kind === "Hostname"))
    return resolveEntryBackend(ref, kind, routeNamespace, index, routeKind);
  if (!isCoreGroup(group) || kind !== "Service") {
    const gk = group ? `${kind}.${group}` : kind;
    return {
      ok: false,
      reason: "InvalidKind",
      message: `backendRef ${name}: kind ${gk} is not supported (only core Services and ServiceEntry / Hostname of ${ISTIO_NETWORKING_GROUP} are)`,
    };
  }
  const namespace = str(ref.namespace) || routeNamespace;
  const label = namespace === routeNamespace ? name : `${namespace}/${name}`;
  if (
    namespace !== routeNamespace &&
    !parentServices.has(`${namespace}/${name}`) &&
    !referenceGranted(index, routeNamespace, namespace, name, routeKind)
  ) {
    return {
      ok: false,
      reason: "RefNotPermitted",
      message: `backendRef to Service ${label} is not permitted: no ReferenceGrant in namespace ${namespace} allows ${routeKind}s from namespace ${routeNamespace}`,
    };
  }
  const service = index.service(namespace, name);
  if (!service) return { ok: false, reason: "BackendNotFound", message: `Service ${label} not found` };
  const portNumber = int(ref.port);
  if (portNumber === undefined) {
    return { ok: false, reason: "BackendNotFound", message: `backendRef to Service ${label} needs a port` };
  }
  const port = service.ports.find((p) => p.port === portNumber);
  if (!port)
    return { ok: false, reason: "BackendNotFound", message: `Service ${label} has no port ${portNumber}` };
  const w = ref.weight === undefined ? 1 : int(ref.weight);
  return { ok: true, target: serviceTarget(service, port), weight: w === undefined || w < 0 ? 0 : w };
}

/** A backendRef to a ServiceEntry (by name) or to a host of one (kind Hostname). */
function resolveEntryBackend(
  ref: Record<string, unknown>,
  kind: "ServiceEntry" | "Hostname",
  routeNamespace: string,
  index: ObjectIndex,
  routeKind: string,
): BackendResult {
  const name = str(ref.name) ?? "";
  const namespace = str(ref.namespace) || routeNamespace;
  const what =
    kind === "ServiceEntry" ? `ServiceEntry ${namespace}/${name}` : `Hostname ${namespace}/${name}`;
  if (
    namespace !== routeNamespace &&
    !referenceGranted(index, routeNamespace, namespace, name, routeKind, {
      kind,
      group: ISTIO_NETWORKING_GROUP,
    })
  )
    return {
      ok: false,
      reason: "RefNotPermitted",
      message: `backendRef to ${what} is not permitted: no ReferenceGrant in namespace ${namespace} allows ${routeKind}s from namespace ${routeNamespace}`,
    };
  const entry =
    kind === "ServiceEntry" ? index.serviceEntry(namespace, name) : index.serviceEntryByHost(namespace, name);
  if (!entry)
    return {
      ok: false,
      reason: "BackendNotFound",
      message:
        kind === "ServiceEntry"
          ? `${what} not found`
          : `no ServiceEntry of namespace ${namespace} lists host ${JSON.stringify(name)} in spec.hosts`,
    };
  const label = `ServiceEntry ${namespace}/${entry.name}`;
  if (entry.entry?.unusable) return { ok: false, reason: "BackendNotFound", message: entry.entry.unusable };
  const portNumber = int(ref.port);
  if (portNumber === undefined)
    return { ok: false, reason: "BackendNotFound", message: `backendRef to ${label} needs a port` };
  const port = entry.ports.find((p) => p.port === portNumber);
  if (!port) return { ok: false, reason: "BackendNotFound", message: `${label} has no port ${portNumber}` };
  const w = ref.weight === undefined ? 1 : int(ref.weight);
  return { ok: true, target: serviceTarget(entry, port), weight: w === undefined || w < 0 ? 0 : w };
}
