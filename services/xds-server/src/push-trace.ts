// Per stream: one span per response sent (per proxy and xDS type), a child of the translator's span
// that wrote the snapshot, ended by the proxy's answer. An ACK of nonce N settles N and any earlier
// response of that type (a proxy answers only the newest); a NACK ends it with status ERROR and
// Envoy's error_detail. Also feeds the push/ACK/NACK counters and the propagation histogram.
import { endSpan, linkTo, logIds, type Span, SpanKind, startSpan } from "@waymark/telemetry";
import { shortType, type XdsMetrics } from "./metrics.ts";
import type { Outgoing, Verdict } from "./protocol.ts";
import type { Snapshot } from "./snapshot.ts";

interface Pending {
  nonce: string;
  span: Span;
  sentAt: number;
  /** When the change this response carries was observed, if it happened while the proxy was connected. */
  observedAt: number | undefined;
}

export interface PushTraceInfo {
  nodeId: string;
  waypoint: string;
  replica: string;
  protocol: "delta" | "sotw";
  /** ms since epoch. */
  connectedAt: number;
}

const METHOD = { delta: "DeltaAggregatedResources", sotw: "StreamAggregatedResources" } as const;

export class PushTrace {
  readonly #info: PushTraceInfo;
  readonly #metrics: XdsMetrics;
  readonly #now: () => number;
  readonly #pending = new Map<string, Pending[]>();

  constructor(info: PushTraceInfo, metrics: XdsMetrics, now: () => number = Date.now) {
    this.#info = info;
    this.#metrics = metrics;
    this.#now = now;
  }

  sent(o: Outgoing, snap: Snapshot | undefined): void {
    const type = shortType(o.typeUrl);
    this.#metrics.pushes.inc({ type });
    const observed = snap?.observedAt ? Date.parse(snap.observedAt) : Number.NaN;
    // A change made while the proxy was connected continues that change's trace; anything else (a
    // proxy connecting, or subscribing anew) starts its own trace, linked to the snapshot's.
    const during = !Number.isNaN(observed) && observed >= this.#info.connectedAt;
    const span = startSpan(`xds.push ${type}`, {
      kind: SpanKind.PRODUCER,
      parent: during ? snap?.trace : null,
      ...(during ? {} : { links: [linkTo(snap?.trace)] }),
      attributes: {
        "rpc.system": "grpc",
        "rpc.service": "envoy.service.discovery.v3.AggregatedDiscoveryService",
        "rpc.method": METHOD[this.#info.protocol],
        "xds.type_url": o.typeUrl,
        "xds.version": o.version,
        "xds.nonce": o.nonce,
        "xds.resources": o.names.length,
        "xds.removed": o.removed.length,
        "envoy.node.id": this.#info.nodeId,
        "waymark.waypoint": this.#info.waypoint,
        "waymark.replica": this.#info.replica,
        ...(snap ? { "waymark.snapshot.version": snap.version } : {}),
      },
    });
    let list = this.#pending.get(o.typeUrl);
    if (!list) {
      list = [];
      this.#pending.set(o.typeUrl, list);
    }
    list.push({ nonce: o.nonce, span, sentAt: this.#now(), observedAt: during ? observed : undefined });
    // A proxy that never answers must not grow this without bound.
    if (list.length > 64) endSpan(list.shift()!.span, { attributes: { "xds.outcome": "unanswered" } });
  }

  /** Ends the answered push's span; returns its ids for the log line. */
  verdict(v: Verdict): { trace_id?: string; span_id?: string } {
    const type = shortType(v.typeUrl);
    (v.kind === "ack" ? this.#metrics.acks : this.#metrics.nacks).inc({ type });
    const list = this.#pending.get(v.typeUrl);
    const i = list?.findIndex((p) => p.nonce === v.nonce) ?? -1;
    if (!list || i < 0) return {};
    const answered = list[i]!.span;
    const now = this.#now();
    for (const p of list.splice(0, i + 1)) {
      if (p.nonce !== v.nonce) {
        endSpan(p.span, { attributes: { "xds.outcome": "superseded" } });
        continue;
      }
      this.#metrics.ackLatency.observe({ type }, (now - p.sentAt) / 1000);
      if (v.kind === "ack") {
        if (p.observedAt !== undefined)
          this.#metrics.propagation.observe({ type }, (now - p.observedAt) / 1000);
        endSpan(p.span, { attributes: { "xds.outcome": "ack" } });
      } else {
        const detail = v.message || "rejected without a message";
        p.span.addEvent("xds.nack", { "xds.error_detail": detail });
        endSpan(p.span, {
          error: `NACK: ${detail}`,
          attributes: { "xds.outcome": "nack", "xds.error_detail": detail },
        });
      }
    }
    return logIds(answered);
  }

  /** The stream ended: responses still unanswered end as errors. */
  close(why: string): void {
    for (const list of this.#pending.values())
      for (const p of list) endSpan(p.span, { error: `stream ended before the proxy answered: ${why}` });
    this.#pending.clear();
  }
}
