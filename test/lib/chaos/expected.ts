// What every proxy should hold: the manifest the translator builds from the objects in wm-objects,
// computed here with the same pure translation and encoding, and what wm-xds and wm-proxies hold.
import {
  Bucket,
  type KubeObject,
  manifestKey,
  type ObjectEnvelope,
  type ProxyRecord,
  type WaypointManifest,
  type WaypointRef,
} from "@waymark/api";
import { getJson, listKeys, type NatsConnection, openBucket } from "@waymark/bus";
import { buildSnapshots, translate } from "@waymark/translator";

export interface Expected {
  version: string;
  versions: Record<string, string>;
  resources: Record<string, Record<string, string>>;
}

/** The manifest the translator would build now from wm-objects (defaults of its configuration). */
export async function expectedManifest(
  nc: NatsConnection,
  waypoint: WaypointRef,
  bindAddress: string,
): Promise<Expected> {
  const kv = await openBucket(nc, Bucket.objects);
  const objects = new Map<string, KubeObject>();
  for (const key of (await listKeys(kv)).sort()) {
    const e = await kv.get(key);
    if (e && e.operation === "PUT") objects.set(key, e.json<ObjectEnvelope>().object);
  }
  const output = translate(
    { objects },
    { controllerName: "waymark.dev/waymark", waypointClassName: "kgateway-waypoint", bindAddress },
  );
  const { snapshots, failures } = buildSnapshots(output);
  if (failures.length)
    throw new Error(`the translation failed: ${JSON.stringify(failures.map((f) => f.key))}`);
  const s = snapshots.find((x) => x.key === manifestKey(waypoint));
  if (!s) throw new Error(`no snapshot for ${manifestKey(waypoint)}`);
  return { version: s.version, versions: s.versions, resources: s.resources };
}

export async function publishedManifest(
  nc: NatsConnection,
  waypoint: WaypointRef,
): Promise<WaypointManifest | undefined> {
  return getJson<WaypointManifest>(await openBucket(nc, Bucket.xds), manifestKey(waypoint));
}

/** nodeId → its newest wm-proxies record (a proxy that moved replicas may leave a stale one behind). */
export async function proxyRecords(nc: NatsConnection): Promise<Map<string, ProxyRecord>> {
  const kv = await openBucket(nc, Bucket.proxies);
  const out = new Map<string, ProxyRecord>();
  for (const key of await listKeys(kv)) {
    const r = await getJson<ProxyRecord>(kv, key);
    if (!r) continue;
    const prev = out.get(r.nodeId);
    if (!prev || Date.parse(r.connectedAt) > Date.parse(prev.connectedAt)) out.set(r.nodeId, r);
  }
  return out;
}
