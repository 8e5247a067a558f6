// Config propagation seen end to end, with a real Jaeger v2 (OTLP, in-memory storage, query API):
// two waypoint Envoys, two xds-server replicas, the three services exporting traces. One route change
// must be ONE trace holding the watcher's change, the translator's build and manifest write, and one
// push per Envoy that ends with its ACK; a change Envoy rejects must show the NACK and its error. Also
// scrapes every service's /metrics, /readyz and the xds-servers' /debug/proxies.
import assert from "node:assert/strict";
import { readFileSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import type { ProxyRecord } from "@waymark/api";
import type { Stack } from "@waymark/devstack";
import { histogramFromText, valueFromText } from "@waymark/telemetry";
import { tempDir, waitFor } from "@waymark/testing";
import { type GuideStack, startGuideStack } from "../lib/guide-stack.ts";
import { echoedHeaders } from "../lib/http.ts";
import {
  type Jaeger,
  type JaegerSpan,
  type JaegerTrace,
  serviceOf,
  startJaeger,
  tag,
} from "../lib/jaeger.ts";

const ENVOYS = 2;
/** RE2 program size these test Envoys allow; `/x{40}` needs more. */
const STRICT_RE2_PROGRAM_SIZE = 20;

/** The trace that holds the watcher's change of one object, observed after `since` (ms). */
async function changeTrace(jaeger: Jaeger, object: string, since: number): Promise<JaegerTrace> {
  const traces = await jaeger.traces("waymark-watcher", { operation: "send wm-objects", limit: 50 });
  const hit = traces.find((t) =>
    t.spans.some(
      (s) =>
        s.operationName === "send wm-objects" &&
        tag(s, "k8s.object.name") === object &&
        s.startTime >= since * 1000 - 1000,
    ),
  );
  if (!hit) throw new Error(`no trace yet for the change of ${object}`);
  return (await jaeger.trace(hit.traceID)) ?? hit;
}

/** With WAYMARK_SAVE_TRACES=<dir>, keeps the query API's JSON (scripts/render-trace.ts draws it). */
function saveTrace(name: string, t: JaegerTrace): void {
  const dir = process.env["WAYMARK_SAVE_TRACES"];
  if (dir) writeFileSync(join(dir, `${name}.json`), JSON.stringify({ data: [t] }, null, 2));
}

/** Jaeger's parent of a span: its CHILD_OF reference, else its first (a link to the parent itself is
 * folded into one FOLLOWS_FROM reference by Jaeger's OTLP conversion). */
const parentOf = (s: JaegerSpan) =>
  (s.references.find((r) => r.refType === "CHILD_OF") ?? s.references[0])?.spanID;
const end = (s: JaegerSpan) => s.startTime + s.duration;

describe("tracing: every change reaches every proxy, in one trace", { timeout: 180_000 }, () => {
  let jaeger: Jaeger;
  let guide: GuideStack;
  let stack: Stack;
  let dir: string;

  before(async () => {
    jaeger = await startJaeger({ logDir: tempDir("e2e-tracing-jaeger") });
    guide = await startGuideStack("e2e-tracing", {
      xdsReplicas: 2,
      envoys: ENVOYS,
      otlpEndpoint: jaeger.otlpEndpoint,
      ops: true,
      // Proxies stricter than the translator assumes (as after an Envoy upgrade that lowered a limit):
      // the one way left for a well-formed, validated route to be rejected by Envoy.
      envoyRuntime: { "re2.max_program_size.error_level": STRICT_RE2_PROGRAM_SIZE },
    });
    ({ stack, dir } = guide);
    console.log(`logs: ${guide.logDir}`);
  });

  after(async () => {
    await stack?.stop();
    await jaeger?.stop();
  });

  /** Every proxy connected to any replica, from the replicas' debug endpoints. */
  const connected = async () => {
    const out: ProxyRecord[] = [];
    for (const url of stack.ops!.xds) {
      const r = (await (await fetch(`${url}/debug/proxies`)).json()) as { proxies: ProxyRecord[] };
      out.push(...r.proxies);
    }
    return out;
  };

  test("every service is ready and serves metrics; the debug endpoint lists both Envoys", async () => {
    const ops = stack.ops!;
    for (const url of [ops.watcher, ops.translator, ...ops.xds]) {
      const r = await fetch(`${url}/readyz`);
      assert.equal(r.status, 200, `${url}/readyz: ${await r.text()}`);
      assert.equal((await fetch(`${url}/healthz`)).status, 200);
    }
    const w = await (await fetch(`${ops.watcher}/metrics`)).text();
    assert.ok(valueFromText(w, "waymark_watcher_writes_total") > 0, "the watcher wrote the example");
    assert.equal(valueFromText(w, "waymark_watcher_relists_total"), 1, "one initial listing");
    const t = await (await fetch(`${ops.translator}/metrics`)).text();
    assert.ok(histogramFromText(t, "waymark_translator_build_duration_seconds").count >= 1);
    const proxies = await waitFor("both Envoys in /debug/proxies", async () => {
      const p = await connected();
      return p.length === ENVOYS ? p : undefined;
    });
    assert.deepEqual(
      proxies.map((p) => p.waypoint && `${p.waypoint.namespace}/${p.waypoint.name}`),
      Array(ENVOYS).fill("httpbin/kgateway-waypoint"),
    );
    let total = 0;
    for (const url of ops.xds) {
      const x = await (await fetch(`${url}/metrics`)).text();
      total += valueFromText(x, "waymark_xds_connected_proxies") || 0;
    }
    assert.equal(total, ENVOYS, "connected proxies summed over the replicas");
  });

  test("one route change: one trace from the watcher to the ACK of every connected Envoy", async () => {
    const nodes = (await connected()).map((p) => p.nodeId).sort();
    assert.equal(nodes.length, ENVOYS);
    const file = join(dir, "30-httpbin3-route.yaml");
    const t0 = Date.now();
    writeFileSync(file, readFileSync(file, "utf8").replace("value: httpbin3", "value: httpbin3-traced"));
    await waitFor(
      "the change in traffic",
      async () => echoedHeaders(await guide.request("httpbin3", "/get"))["App"]?.[0] === "httpbin3-traced",
      10_000,
      20,
    );
    const trace = await waitFor(
      "a complete trace in Jaeger",
      async () => {
        const t = await changeTrace(jaeger, "httpbin3", t0);
        const acked = t.spans.filter(
          (s) => s.operationName === "xds.push RDS" && tag(s, "xds.outcome") === "ack",
        );
        // Each service exports its spans in batches of its own: the trace is whole once the
        // watcher's and the translator's spans are in too, not only the xds-server's ACKs.
        const ops = new Set(t.spans.map((s) => s.operationName));
        const whole = ["send wm-objects", "process wm-objects", "send wm-xds"].every((o) => ops.has(o));
        return acked.length >= ENVOYS && whole ? t : undefined;
      },
      20_000,
      250,
    );
    saveTrace("route-change", trace);
    const services = new Set(trace.spans.map((s) => serviceOf(trace, s)));
    assert.deepEqual([...services].sort(), ["waymark-translator", "waymark-watcher", "waymark-xds-server"]);

    const byId = new Map(trace.spans.map((s) => [s.spanID, s]));
    const change = trace.spans.find((s) => s.operationName === "send wm-objects")!;
    assert.equal(tag(change, "span.kind"), "producer");
    assert.equal(tag(change, "k8s.object.kind"), "HTTPRoute");
    const build = trace.spans.find((s) => s.operationName === "process wm-objects")!;
    assert.equal(parentOf(build), change.spanID, "the build continues the change's trace");
    assert.ok(
      build.references.some((r) => r.refType === "FOLLOWS_FROM" && r.spanID === change.spanID),
      "and links to every change it coalesced",
    );
    const manifest = trace.spans.find((s) => s.operationName === "send wm-xds")!;
    assert.equal(parentOf(manifest), build.spanID);
    assert.equal(tag(manifest, "waymark.waypoint"), "httpbin/kgateway-waypoint");
    assert.ok(Number(tag(manifest, "waymark.xds.routes")) >= 1);

    const pushes = trace.spans.filter((s) => s.operationName.startsWith("xds.push "));
    for (const p of pushes)
      assert.equal(parentOf(p), manifest.spanID, "each push is a child of the manifest write");
    const ackedNodes = pushes
      .filter((s) => s.operationName === "xds.push RDS" && tag(s, "xds.outcome") === "ack")
      .map((s) => String(tag(s, "envoy.node.id")))
      .sort();
    assert.deepEqual([...new Set(ackedNodes)], nodes, "every connected Envoy ACKed the new routes");
    // The trace ends with the ACKs: every leaf is a push that ended with its ACK, after the manifest
    // write it follows. (The build span itself may end a little later: it also writes statuses.)
    const leaves = trace.spans.filter((s) => !trace.spans.some((c) => parentOf(c) === s.spanID));
    assert.deepEqual(
      leaves.map((s) => `${s.operationName} ${String(tag(s, "xds.outcome"))}`),
      pushes.map(() => "xds.push RDS ack"),
    );
    // Causality as the clocks can show it: a push starts after the manifest write that carries it
    // began, which began after the change was sent. (Not the ends: a write's span ends when its
    // writer hears NATS's ack, which a busy writer may hear after the push it caused was ACKed.)
    assert.ok(manifest.startTime >= change.startTime, "the manifest write follows the change");
    for (const p of pushes)
      assert.ok(p.startTime >= manifest.startTime, `${p.operationName} follows the write`);
    const lastEnd = Math.max(...pushes.map(end));
    for (const s of trace.spans)
      assert.ok(byId.has(parentOf(s) ?? s.spanID), `${s.operationName} has its parent`);
    console.log(
      `trace ${trace.traceID}: ${trace.spans.length} spans, change → last ACK ${((lastEnd - change.startTime) / 1000).toFixed(1)} ms`,
    );

    let observed = 0;
    for (const url of stack.ops!.xds) {
      const x = await (await fetch(`${url}/metrics`)).text();
      observed += histogramFromText(x, "waymark_xds_propagation_seconds", { type: "RDS" }).count;
    }
    assert.ok(observed >= ENVOYS, `propagation observed for every Envoy (${observed})`);
    // A header value edited: the translator redid only the changed route.
    const t = await (await fetch(`${stack.ops!.translator}/metrics`)).text();
    assert.ok(
      valueFromText(t, "waymark_translator_translations_total", { path: "incremental" }) >= 1,
      "the change took the incremental path",
    );
  });

  test("a change Envoy rejects: the push spans end in ERROR with Envoy's error_detail", async () => {
    // The translator accepts this regex (valid RE2, well within the program size it allows), but it
    // compiles to an RE2 program larger than these Envoys' stricter limit, so they reject the route
    // configuration at runtime: a NACK.
    const file = join(dir, "50-nack.yaml");
    const t0 = Date.now();
    writeFileSync(
      file,
      [
        "apiVersion: gateway.networking.k8s.io/v1",
        "kind: HTTPRoute",
        "metadata: {name: too-big-regex, namespace: httpbin}",
        "spec:",
        '  parentRefs: [{group: "", kind: Service, name: httpbin2}]',
        "  rules:",
        "  - matches: [{path: {type: RegularExpression, value: '/x{40}'}}]",
        "    backendRefs: [{name: httpbin2, port: 8000}]",
        "",
      ].join("\n"),
    );
    try {
      const trace = await waitFor(
        "a trace with the NACKs",
        async () => {
          const t = await changeTrace(jaeger, "too-big-regex", t0);
          const nacked = t.spans.filter((s) => tag(s, "xds.outcome") === "nack");
          return nacked.length >= ENVOYS ? t : undefined;
        },
        20_000,
        250,
      );
      saveTrace("route-nack", trace);
      const nacked = trace.spans.filter((s) => tag(s, "xds.outcome") === "nack");
      for (const s of nacked) {
        assert.equal(s.operationName, "xds.push RDS");
        assert.equal(tag(s, "otel.status_code"), "ERROR");
        assert.equal(tag(s, "error"), true);
        const detail = String(tag(s, "xds.error_detail"));
        assert.match(detail, /program size/i, detail);
        assert.match(String(tag(s, "otel.status_description")), /^NACK: /);
      }
      console.log(`NACK trace ${trace.traceID}: ${String(tag(nacked[0]!, "xds.error_detail"))}`);
      let nacks = 0;
      for (const url of stack.ops!.xds)
        nacks +=
          valueFromText(await (await fetch(`${url}/metrics`)).text(), "waymark_xds_nacks_total", {
            type: "RDS",
          }) || 0;
      assert.ok(nacks >= ENVOYS);
    } finally {
      rmSync(file, { force: true });
    }
  });
});
