// TrafficPolicy tracing with the waypoints' tracing provider, end to end: a real Envoy exports its
// spans over OTLP/gRPC to a real Jaeger v2, and what is checked is what a user sees in Jaeger. The
// translator runs with WAYMARK_WAYPOINT_TRACING=otlp-grpc://<Jaeger's OTLP/gRPC receiver> and a
// default sampling of 0% (WAYMARK_WAYPOINT_TRACING_SAMPLING=0), so that every span found comes from
// a route policy's sampling:
//   - httpbin3's route, randomSampling 100 with two attributes: every request is a trace of the
//     waypoint's service (kgateway-waypoint.httpbin), its server span carrying the attributes and a
//     client span for the upstream request (spawn_upstream_span);
//   - httpbin2's /anything/quiet rule, `disable`: not even a request with x-client-trace-id is traced;
//   - httpbin2's /anything/tagged rule, attributes only: it keeps the waypoints' 0% (Envoy alone would
//     read the unset route percentage as 100%), yet a request with x-client-trace-id is traced (client
//     sampling stays 100%) and carries the attribute;
//   - httpbin2's other paths, no policy: the connection manager's 0%, even for a request whose
//     traceparent says sampled (the waypoint samples by its own percentages, not its client's flag).
import assert from "node:assert/strict";
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import { Bucket, createLogger, objectKey, type ProxyRecord, type StatusEntry } from "@waymark/api";
import { connectBus, getJson, type KV, listKeys, type NatsConnection, openBucket } from "@waymark/bus";
import { tempDir, waitFor } from "@waymark/testing";
import { stringify } from "yaml";
import { type GuideStack, startGuideStack } from "../lib/guide-stack.ts";
import {
  type Jaeger,
  type JaegerSpan,
  type JaegerTrace,
  serviceOf,
  startJaeger,
  tag,
} from "../lib/jaeger.ts";

type Obj = Record<string, unknown>;
const SERVICE = "kgateway-waypoint.httpbin";

function policyYaml(name: string, target: Obj, tracing: Obj): string {
  return stringify({
    apiVersion: "gateway.kgateway.dev/v1alpha1",
    kind: "TrafficPolicy",
    metadata: { name, namespace: "httpbin" },
    spec: { targetRefs: [{ group: "gateway.networking.k8s.io", kind: "HTTPRoute", ...target }], tracing },
  });
}

/** httpbin2's extra rules, beside its guide route (PathPrefix /): the longer prefixes win. */
const PATHS_ROUTE = stringify({
  apiVersion: "gateway.networking.k8s.io/v1",
  kind: "HTTPRoute",
  metadata: { name: "httpbin2-paths", namespace: "httpbin" },
  spec: {
    parentRefs: [{ group: "", kind: "Service", name: "httpbin2" }],
    rules: ["quiet", "tagged"].map((name) => ({
      name,
      matches: [{ path: { type: "PathPrefix", value: `/anything/${name}` } }],
      backendRefs: [{ name: "httpbin2", port: 8000 }],
    })),
  },
});

/** Envoy's server span of a request: the span whose http.url tag ends with the path. */
function serverSpan(t: JaegerTrace, path: string): JaegerSpan | undefined {
  return t.spans.find(
    (s) => String(tag(s, "http.url") ?? "").endsWith(path) && tag(s, "span.kind") === "server",
  );
}

describe("standalone: TrafficPolicy tracing with the waypoints' provider, in Jaeger", {
  timeout: 300_000,
}, () => {
  let jaeger: Jaeger;
  let guide: GuideStack;
  let nc: NatsConnection;
  let statusKv: KV;
  let proxiesKv: KV;
  const write = (file: string, yaml: string) => writeFileSync(join(guide.dir, file), yaml);
  const traces = () => jaeger.traces(SERVICE, { limit: 500 });
  /** The trace holding the server span of a request to `path` (unique per test request). */
  const traceOf = async (path: string) => {
    for (const t of await traces()) if (serverSpan(t, path)) return t;
    return undefined;
  };

  before(async () => {
    jaeger = await startJaeger({ logDir: tempDir("e2e-policy-tracing-jaeger") });
    guide = await startGuideStack("e2e-policy-tracing-jaeger", {
      serviceEnv: {
        WAYMARK_WAYPOINT_TRACING: `otlp-grpc://${jaeger.otlpGrpcAddress}`,
        WAYMARK_WAYPOINT_TRACING_SAMPLING: "0",
      },
    });
    nc = await connectBus({ servers: guide.stack.nats.url, name: "e2e", log: createLogger("e2e") });
    statusKv = await openBucket(nc, Bucket.status);
    proxiesKv = await openBucket(nc, Bucket.proxies);
    console.log(`logs: ${guide.logDir}`);
  });

  after(async () => {
    await nc?.close();
    await guide?.stop();
    await jaeger?.stop();
  });

  const valid = (name: string) =>
    waitFor(`TrafficPolicy ${name} Valid`, async () => {
      const s = await getJson<StatusEntry>(
        statusKv,
        objectKey({ group: "gateway.kgateway.dev", kind: "TrafficPolicy", namespace: "httpbin", name }),
      );
      const a = (s?.status["ancestors"] as Array<{ conditions: Array<Obj> }> | undefined)?.[0];
      return a?.conditions.some((c) => c.type === "Accepted" && c.reason === "Valid") ? true : undefined;
    });

  test("the connection managers export to the collector; route policies decide what is sampled", async () => {
    write("40-httpbin2-paths.yaml", PATHS_ROUTE);
    write(
      "60-tracing-all.yaml",
      policyYaml(
        "tracing-all",
        { name: "httpbin3" },
        {
          randomSampling: 100,
          attributes: [
            { name: "team", literal: { value: "payments" } },
            { name: "tenant", requestHeader: { name: "x-tenant", defaultValue: "none" } },
          ],
        },
      ),
    );
    write(
      "61-tracing-quiet.yaml",
      policyYaml("tracing-quiet", { name: "httpbin2-paths", sectionName: "quiet" }, { disable: {} }),
    );
    write(
      "62-tracing-tagged.yaml",
      policyYaml(
        "tracing-tagged",
        { name: "httpbin2-paths", sectionName: "tagged" },
        { attributes: [{ name: "tagged", literal: { value: "yes" } }] },
      ),
    );
    for (const p of ["tracing-all", "tracing-quiet", "tracing-tagged"]) await valid(p);

    // Envoy runs the provider: the connection managers' OpenTelemetry tracer and its cluster, and
    // every policy's route tracing (waited for: the routes come after the listener).
    const listeners = await guide.stack.envoy.admin("/config_dump?resource=dynamic_listeners");
    assert.match(listeners, /"name": "envoy\.tracers\.opentelemetry"/);
    assert.match(listeners, /"service_name": "kgateway-waypoint\.httpbin"/);
    assert.match(await guide.stack.envoy.admin("/clusters"), /^waymark\.tracing::/m);
    await waitFor("the three policies' tracing on Envoy's routes", async () => {
      const dump = await guide.stack.envoy.admin("/config_dump?resource=dynamic_route_configs");
      const n = dump.match(/"tracing": \{/g)?.length ?? 0;
      return n === 3 ? true : undefined;
    });

    // What must NOT be traced goes first, then what must be, the last request being the marker.
    // Why the marker's trace in Jaeger shows the earlier requests were not sampled (rather than not
    // yet exported): the test Envoy runs one worker (--concurrency 1), so one tracer buffers every
    // span; a request's span is finished and buffered when its stream completes, before Envoy reads
    // the next request we send after awaiting the response; Envoy exports its buffer in order over one
    // gRPC connection. A span of an earlier request would therefore be in the same export as the
    // marker's or in an earlier one, stored in Jaeger by the time the marker is found.
    const negatives = [
      ["/anything/plain", {}], // no policy: the waypoints' 0%
      ["/anything/quiet/client", { "x-client-trace-id": "q1" }], // disable: client sampling 0% too
      ["/anything/tagged/random", {}], // attributes only: keeps the waypoints' 0%
      // A client's sampled traceparent does not force a trace: Envoy decides from its percentages.
      ["/anything/plain/parent", { traceparent: "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01" }],
    ] as const;
    for (const [path, headers] of negatives)
      assert.equal((await guide.request("httpbin2", path, { headers })).status, 200, path);
    assert.equal(
      (await guide.request("httpbin2", "/anything/tagged/client", { headers: { "x-client-trace-id": "c1" } }))
        .status,
      200,
    );
    assert.equal(
      (await guide.request("httpbin3", "/anything/marker", { headers: { "x-tenant": "t1" } })).status,
      200,
    );

    const marker = await waitFor(
      "the marker's trace in Jaeger",
      () => traceOf("/anything/marker"),
      30_000,
      200,
    );
    const tagged = await traceOf("/anything/tagged/client");
    assert.ok(tagged, "the client-forced request on the attributes-only rule was traced");

    // The 100% route: the waypoint's server span with the policy's attributes, and the client span of
    // the upstream request under it.
    const server = serverSpan(marker, "/anything/marker")!;
    assert.equal(serviceOf(marker, server), SERVICE);
    assert.equal(tag(server, "team"), "payments");
    assert.equal(tag(server, "tenant"), "t1");
    assert.equal(tag(server, "http.method"), "GET");
    assert.equal(String(tag(server, "http.status_code")), "200");
    const upstream = marker.spans.find((s) => tag(s, "span.kind") === "client");
    assert.ok(upstream, `an upstream span: ${marker.spans.map((s) => s.operationName).join(", ")}`);
    assert.equal(upstream.references.find((r) => r.refType === "CHILD_OF")?.spanID, server.spanID);
    assert.equal(tag(upstream, "upstream_cluster"), "kube_httpbin_httpbin3_8000");
    // The attributes-only rule: its own attribute, not httpbin3's.
    const taggedServer = serverSpan(tagged, "/anything/tagged/client")!;
    assert.equal(tag(taggedServer, "tagged"), "yes");
    assert.equal(tag(taggedServer, "team"), undefined);

    // Nothing of the requests that were not to be sampled.
    const all = await traces();
    for (const [path] of negatives)
      assert.equal(
        all.find((t) => serverSpan(t, path)),
        undefined,
        `${path} was traced (${all.length} traces in Jaeger)`,
      );
    assert.equal(
      all.length,
      2,
      `only the two sampled requests: ${all.map((t) => t.spans.map((s) => tag(s, "http.url")).join()).join("; ")}`,
    );
  });

  test("Envoy never NACKed", async () => {
    for (const k of await listKeys(proxiesKv)) {
      const rec = await getJson<ProxyRecord>(proxiesKv, k);
      for (const [type, s] of Object.entries(rec?.types ?? {}))
        assert.equal(s.nackedVersion, undefined, `${type} NACKed: ${s.nackMessage}`);
    }
    const stats = await guide.stack.envoy.stats("update_rejected");
    for (const [name, v] of stats) assert.equal(v, 0, `${name}`);
  });
});
