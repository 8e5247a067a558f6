// In-memory snapshots of the shared xDS fixtures (@waymark/testing/xds-fixtures), for the pure protocol
// tests. Kept here, not with the fixtures, because it builds the xds-server's own Snapshot.
import { manifestKey, type WaypointRef } from "@waymark/api";
import { build, type Resources } from "@waymark/testing/xds-fixtures";
import { Blob, buildSnapshot, type Snapshot } from "../src/snapshot.ts";

export function snapshotOf(waypoint: WaypointRef, resources: Resources, previous?: Snapshot): Snapshot {
  const b = build(waypoint, resources);
  return buildSnapshot(manifestKey(waypoint), b.manifest, (h) => new Blob(h, b.blobs.get(h)!), previous);
}
