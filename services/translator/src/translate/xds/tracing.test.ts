import assert from "node:assert/strict";
import { test } from "node:test";
import type { WaypointInfo } from "../waypoints/gateways.ts";
import { hcmTracing, listenerTracing, tracingCluster } from "./tracing.ts";

const waypoint = { ref: { namespace: "apps", name: "waypoint" } } as WaypointInfo;

test("the collector's cluster: DNS for a name, STATIC for an IP; HTTP/2 either way", () => {
  const dns = tracingCluster({ host: "otel.observability", port: 4317 });
  assert.equal(dns.name, "waymark.tracing");
  assert.equal(dns.type, "STRICT_DNS");
  assert.equal(dns.dnsLookupFamily, "V4_PREFERRED");
  const ip = tracingCluster({ host: "fd00::7", port: 4317 });
  assert.equal(ip.type, "STATIC");
  assert.equal(ip.dnsLookupFamily, undefined);
  assert.deepEqual(ip.loadAssignment?.endpoints?.[0]?.lbEndpoints?.[0]?.endpoint?.address, {
    socketAddress: { address: "fd00::7", portValue: 4317 },
  });
  for (const c of [dns, ip])
    assert.deepEqual(
      Object.values(c.typedExtensionProtocolOptions ?? {}).map(
        (o) => (o as { explicitHttpConfig?: unknown }).explicitHttpConfig,
      ),
      [{ http2ProtocolOptions: {} }],
    );
});

test("the connection manager's tracing: the waypoint's service name, the setting's sampling", () => {
  const t = listenerTracing({ host: "fd00::7", port: 4317, randomSampling: 0.5 }, waypoint);
  assert.deepEqual(t, {
    cluster: "waymark.tracing",
    authority: "[fd00::7]:4317",
    serviceName: "waypoint.apps",
    randomSampling: 0.5,
  });
  const hcm = hcmTracing(t);
  assert.deepEqual(hcm.randomSampling, { value: 0.5 });
  assert.equal(hcm.spawnUpstreamSpan, true);
  assert.equal(hcm.provider?.name, "envoy.tracers.opentelemetry");
  // The default when unset is 1%; 100% is Envoy's own default and is left out.
  assert.equal(listenerTracing({ host: "otel", port: 4317 }, waypoint).randomSampling, 1);
  assert.equal(hcmTracing({ ...t, randomSampling: 100 }).randomSampling, undefined);
  assert.deepEqual(hcmTracing({ ...t, randomSampling: 0 }).randomSampling, { value: 0 });
});
