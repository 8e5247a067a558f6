// The two ADS servers the xDS scenarios compare, behind one shape: Waymark's xds-server (replicas as
// processes, fed through NATS) and the go-control-plane reference (instances fed through its HTTP API).
import { type EncodedSnapshot, publishToWaymark, startReference } from "@waymark/xds-loadgen";
import { CLUSTER, WAYPOINT } from "./objects.ts";
import { startBackplane, startXdsReplica } from "./services.ts";

export type ServerKind = "waymark" | "go-control-plane";

export interface Servers {
  kind: ServerKind;
  /** One per replica / instance. */
  pids: number[];
  targets: string[];
  /** Publishes a snapshot of the bench waypoint to every replica / instance. */
  load(s: EncodedSnapshot): Promise<void>;
  stop(): Promise<void>;
}

export async function startServers(kind: ServerKind, replicas: number): Promise<Servers> {
  if (kind === "waymark") {
    const b = await startBackplane("xds");
    const reps = await Promise.all(
      Array.from({ length: replicas }, (_, i) => startXdsReplica(b, `bench-${i}`)),
    );
    return {
      kind,
      pids: reps.map((r) => r.pid),
      targets: reps.map((r) => r.target),
      load: (s) => publishToWaymark(b.xds, WAYPOINT, s),
      async stop() {
        await Promise.all(reps.map((r) => r.proc.stop()));
        await b.stop();
      },
    };
  }
  const refs = await Promise.all(Array.from({ length: replicas }, () => startReference()));
  return {
    kind,
    pids: refs.map((r) => r.pid),
    targets: refs.map((r) => r.target),
    load: async (s) => {
      await Promise.all(refs.map((r) => r.load(CLUSTER, s)));
    },
    async stop() {
      await Promise.all(refs.map((r) => r.stop()));
    },
  };
}

export const SERVER_KINDS: readonly ServerKind[] = ["waymark", "go-control-plane"];

/** Rounds to 2 significant decimals for tables. */
export const r2 = (n: number) => Math.round(n * 100) / 100;
