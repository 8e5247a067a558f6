import assert from "node:assert/strict";
import { test } from "node:test";
import { contentHash, decodeResource, EncodeError, encodeResource, TypeUrl, versionOf } from "./index.ts";

const cluster = {
  name: "kube_ns_svc_80",
  type: "EDS",
  connectTimeout: "5s",
  edsClusterConfig: { edsConfig: { ads: {}, resourceApiVersion: "V3" } },
};

test("encodes proto3 JSON to bytes and back", () => {
  const bytes = encodeResource(TypeUrl.cluster, cluster.name, cluster);
  assert.deepEqual(decodeResource(TypeUrl.cluster, bytes), cluster);
});

test("the same JSON always gives the same bytes and hash", () => {
  const a = encodeResource(TypeUrl.cluster, cluster.name, cluster);
  const b = encodeResource(TypeUrl.cluster, cluster.name, structuredClone(cluster));
  assert.equal(contentHash(a), contentHash(b));
});

test("an unknown field is an error naming the resource, never dropped", () => {
  assert.throws(
    () => encodeResource(TypeUrl.cluster, "c1", { ...cluster, conectTimeout: "1s" }),
    (e: unknown) =>
      e instanceof EncodeError && e.message.includes("c1") && e.message.includes("conectTimeout"),
  );
});

test("nested Any typed_config is encoded through the registry", () => {
  const listener = {
    name: "l",
    address: { socketAddress: { address: "0.0.0.0", portValue: 15088 } },
    listenerFilters: [
      {
        name: "envoy.filters.listener.proxy_protocol",
        typedConfig: {
          "@type": "type.googleapis.com/envoy.extensions.filters.listener.proxy_protocol.v3.ProxyProtocol",
        },
      },
    ],
  };
  assert.deepEqual(
    decodeResource(TypeUrl.listener, encodeResource(TypeUrl.listener, "l", listener)),
    listener,
  );
});

test("versionOf ignores insertion order", () => {
  assert.equal(
    versionOf({ a: "1", b: "2" }),
    versionOf(
      new Map([
        ["b", "2"],
        ["a", "1"],
      ]),
    ),
  );
  assert.notEqual(versionOf({ a: "1" }), versionOf({ a: "2" }));
});
