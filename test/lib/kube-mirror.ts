// What wm-objects must hold for a cluster: every object of the kinds the watcher reads, as a fresh
// list from the API server shows it, without what only the API server needs (resourceVersion,
// managedFields), without kubectl's last-applied-configuration annotation (a copy of the object that
// nobody downstream reads) and without the status Waymark writes itself. Written from the spec of the mirror,
// not from the watcher's code, so a test comparing the two can fail.
import { isDeepStrictEqual } from "node:util";
import { Bucket, type ObjectEnvelope, objectKey } from "@waymark/api";
import { listKeys, type NatsConnection, openBucket } from "@waymark/bus";
import { type KubeCluster, waitFor } from "@waymark/testing";

/** kubectl resource name, and whether Waymark writes its status. */
const KINDS: ReadonlyArray<{ resource: string; statusByWaymark: boolean }> = [
  { resource: "gatewayclasses.gateway.networking.k8s.io", statusByWaymark: true },
  { resource: "gateways.gateway.networking.k8s.io", statusByWaymark: true },
  { resource: "httproutes.gateway.networking.k8s.io", statusByWaymark: true },
  { resource: "referencegrants.gateway.networking.k8s.io", statusByWaymark: false },
  { resource: "services", statusByWaymark: false },
  { resource: "namespaces", statusByWaymark: false },
  { resource: "endpointslices.discovery.k8s.io", statusByWaymark: false },
  { resource: "trafficpolicies.gateway.kgateway.dev", statusByWaymark: true },
];

type Obj = {
  apiVersion: string;
  kind: string;
  metadata: Record<string, unknown> & { name: string; namespace?: string };
  status?: unknown;
};

/** key → object, from the API server. */
export async function clusterObjects(cluster: KubeCluster): Promise<Map<string, unknown>> {
  const out = new Map<string, unknown>();
  for (const k of KINDS) {
    const list = JSON.parse(await cluster.kubectl(["get", k.resource, "-A", "-o", "json"])) as {
      items: Obj[];
    };
    for (const o of list.items) {
      const metadata = { ...o.metadata };
      delete metadata["resourceVersion"];
      delete metadata["managedFields"];
      const annotations = { ...(metadata["annotations"] as Record<string, string> | undefined) };
      delete annotations["kubectl.kubernetes.io/last-applied-configuration"];
      if (Object.keys(annotations).length > 0) metadata["annotations"] = annotations;
      else delete metadata["annotations"];
      const obj: Obj = { ...o, metadata };
      if (k.statusByWaymark) delete obj.status;
      const group = o.apiVersion.includes("/") ? (o.apiVersion.split("/")[0] ?? "") : "";
      out.set(
        objectKey({ group, kind: o.kind, namespace: o.metadata.namespace ?? "", name: o.metadata.name }),
        obj,
      );
    }
  }
  return out;
}

/** key → object, from wm-objects (the watcher's entries only). */
export async function mirroredObjects(nc: NatsConnection): Promise<Map<string, unknown>> {
  const kv = await openBucket(nc, Bucket.objects);
  const out = new Map<string, unknown>();
  for (const key of await listKeys(kv)) {
    const e = await kv.get(key);
    if (e?.operation !== "PUT") continue;
    const env = e.json<ObjectEnvelope>();
    if (env.source !== "kube") continue;
    const o = env.object as unknown as Obj;
    const metadata = { ...o.metadata };
    delete metadata["resourceVersion"];
    out.set(key, { ...o, metadata });
  }
  return out;
}

/** The differences between the cluster and wm-objects (empty when wm-objects mirrors it exactly). */
export async function mirrorDiff(cluster: KubeCluster, nc: NatsConnection): Promise<string[]> {
  const [want, have] = await Promise.all([clusterObjects(cluster), mirroredObjects(nc)]);
  const diff: string[] = [];
  for (const [k, o] of want) {
    if (!have.has(k)) diff.push(`missing in wm-objects: ${k}`);
    else if (!isDeepStrictEqual(have.get(k), o))
      diff.push(
        `differs: ${k}\n  cluster:    ${JSON.stringify(o)}\n  wm-objects: ${JSON.stringify(have.get(k))}`,
      );
  }
  for (const k of have.keys()) if (!want.has(k)) diff.push(`not in the cluster: ${k}`);
  return diff;
}

/**
 * Waits until wm-objects mirrors the cluster exactly (controllers may still be settling: each try
 * compares a fresh list with wm-objects); fails with the differences of the last try.
 */
export async function waitForMirror(cluster: KubeCluster, nc: NatsConnection, timeoutMs = 20_000) {
  let last: string[] = [];
  await waitFor(
    "wm-objects mirrors the cluster",
    async () => {
      last = await mirrorDiff(cluster, nc);
      return last.length === 0;
    },
    timeoutMs,
    300,
  ).catch((err: Error) => {
    throw new Error(`${err.message}:\n${last.slice(0, 10).join("\n")}`);
  });
}
