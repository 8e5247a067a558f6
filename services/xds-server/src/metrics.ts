// The xds-server's Prometheus metrics: pushes, ACKs and NACKs per xDS type, time from a change being
// observed to a proxy's ACK (propagation), time from send to ACK, connected proxies.
import {
  Counter,
  createRegistry,
  Gauge,
  Histogram,
  PROPAGATION_BUCKETS,
  type Registry,
} from "@waymark/telemetry";

const SHORT: Record<string, string> = {
  "type.googleapis.com/envoy.config.cluster.v3.Cluster": "CDS",
  "type.googleapis.com/envoy.config.endpoint.v3.ClusterLoadAssignment": "EDS",
  "type.googleapis.com/envoy.config.listener.v3.Listener": "LDS",
  "type.googleapis.com/envoy.config.route.v3.RouteConfiguration": "RDS",
};

/** CDS, EDS, LDS, RDS, or the type URL itself. */
export const shortType = (typeUrl: string) => SHORT[typeUrl] ?? typeUrl;

export class XdsMetrics {
  readonly registry: Registry;
  readonly pushes: Counter<"type">;
  readonly acks: Counter<"type">;
  readonly nacks: Counter<"type">;
  readonly propagation: Histogram<"type">;
  readonly ackLatency: Histogram<"type">;
  readonly connected: Gauge<"protocol">;
  readonly authRejections: Counter<"reason">;
  readonly tokenExpiries: Counter;
  readonly tooLarge: Counter<"type">;

  /** `registry`: the service's; a private one (without process metrics) when absent. */
  constructor(registry?: Registry) {
    this.registry = registry ?? createRegistry("xds-server", { processMetrics: false });
    const registers = [this.registry];
    this.pushes = new Counter({
      name: "waymark_xds_pushes_total",
      help: "xDS responses sent to proxies, by type",
      labelNames: ["type"],
      registers,
    });
    this.acks = new Counter({
      name: "waymark_xds_acks_total",
      help: "Responses proxies accepted (ACK), by type",
      labelNames: ["type"],
      registers,
    });
    this.nacks = new Counter({
      name: "waymark_xds_nacks_total",
      help: "Responses proxies rejected (NACK), by type",
      labelNames: ["type"],
      registers,
    });
    this.propagation = new Histogram({
      name: "waymark_xds_propagation_seconds",
      help: "From the watcher observing a change to a connected proxy's ACK of the configuration holding it",
      labelNames: ["type"],
      buckets: PROPAGATION_BUCKETS,
      registers,
    });
    this.ackLatency = new Histogram({
      name: "waymark_xds_ack_latency_seconds",
      help: "From sending a response to the proxy's ACK or NACK of it",
      labelNames: ["type"],
      buckets: PROPAGATION_BUCKETS,
      registers,
    });
    this.authRejections = new Counter({
      name: "waymark_xds_auth_rejections_total",
      help: "ADS streams refused: no valid proxy token (the TokenProblem), or another waypoint's (forbidden)",
      labelNames: ["reason"],
      registers,
    });
    this.tokenExpiries = new Counter({
      name: "waymark_xds_streams_token_expired_total",
      help: "Served ADS streams ended (UNAUTHENTICATED) because their proxy token expired; the proxy reconnects with its rotated token",
      registers,
    });
    this.tooLarge = new Counter({
      name: "waymark_xds_responses_too_large_total",
      help: "Responses not sent because they exceed the send limit (WAYMARK_XDS_MAX_SEND_BYTES), by type",
      labelNames: ["type"],
      registers,
    });
    const self = this;
    this.connected = new Gauge({
      name: "waymark_xds_connected_proxies",
      help: "Proxies connected to this replica, by protocol",
      labelNames: ["protocol"],
      registers,
      collect() {
        const c = self.#connectedSource?.();
        if (!c) return;
        for (const [protocol, n] of Object.entries(c)) this.set({ protocol }, n);
      },
    });
  }

  #connectedSource: (() => Record<string, number>) | undefined;

  /** Where the connected-proxies gauge reads its value when scraped. */
  countConnected(source: () => Record<string, number>): void {
    this.#connectedSource = source;
  }
}
