// The service running the real translation (src/translate): a waypoint setup put into wm-objects
// becomes a manifest whose blobs decode to the resources translate() produced, and statuses for every
// object it considered.
import assert from "node:assert/strict";
import { after, before, test } from "node:test";
import {
  type KubeObject,
  manifestKey,
  objectKey,
  refOf,
  type StatusEntry,
  type WaypointManifest,
} from "@waymark/api";
import { getJson } from "@waymark/bus";
import { decodeResource, TypeUrl } from "@waymark/envoy-proto";
import { parseAllDocuments } from "yaml";
import { buildSnapshots } from "../src/service/build.ts";
import type { Translator } from "../src/service/translator.ts";
import { translate } from "../src/translate/index.ts";
import { buildIncluding, type Env, putObject, runTranslator, startEnv, testConfig } from "./helpers.ts";

const INPUT = `
apiVersion: gateway.networking.k8s.io/v1
kind: GatewayClass
metadata: { name: kgateway-waypoint, generation: 1 }
spec: { controllerName: waymark.dev/waymark }
---
apiVersion: v1
kind: Namespace
metadata: { name: shop, labels: { istio.io/dataplane-mode: ambient } }
---
apiVersion: gateway.networking.k8s.io/v1
kind: Gateway
metadata: { name: waypoint, namespace: shop, generation: 1 }
spec:
  gatewayClassName: kgateway-waypoint
  listeners: [{ name: proxy, port: 15088, protocol: istio.io/PROXY }]
---
apiVersion: v1
kind: Service
metadata:
  name: cart
  namespace: shop
  labels: { istio.io/use-waypoint: waypoint }
spec:
  clusterIP: 10.96.1.20
  clusterIPs: [10.96.1.20]
  ports: [{ name: http, port: 8000, targetPort: 8080, protocol: TCP, appProtocol: http }]
---
apiVersion: discovery.k8s.io/v1
kind: EndpointSlice
metadata:
  name: cart-x1
  namespace: shop
  labels: { kubernetes.io/service-name: cart }
addressType: IPv4
ports: [{ name: http, port: 8080, protocol: TCP }]
endpoints: [{ addresses: [10.244.0.7], conditions: { ready: true } }]
---
apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata: { name: cart, namespace: shop, generation: 1 }
spec:
  parentRefs: [{ name: cart, kind: Service, group: "" }]
  rules:
  - matches: [{ path: { type: PathPrefix, value: / } }]
    backendRefs: [{ name: cart, port: 8000 }]
`;

const objects = parseAllDocuments(INPUT).map((d) => d.toJS() as KubeObject);
const wp = { namespace: "shop", name: "waypoint" };
let env: Env;
let t: Translator;

before(async () => {
  env = await startEnv();
  t = await runTranslator(env, { translate });
});
after(async () => {
  await t.stop();
  await env.close();
});

test("the real translation publishes a decodable snapshot and statuses", async () => {
  let rev = 0;
  for (const o of objects) rev = await putObject(env.objects, o);
  const report = await buildIncluding(t, rev);
  assert.equal(report.ok, true);
  assert.deepEqual(report.failed, []);

  const m = await getJson<WaypointManifest>(env.xds, manifestKey(wp));
  assert.ok(m, "manifest published");
  for (const typeUrl of [TypeUrl.cluster, TypeUrl.listener]) {
    assert.ok(Object.keys(m.resources[typeUrl] ?? {}).length > 0, `${typeUrl} resources`);
  }
  for (const [typeUrl, byName] of Object.entries(m.resources)) {
    for (const [name, hash] of Object.entries(byName)) {
      const b = await env.xds.get(`blob.${hash}`);
      assert.ok(b && b.operation === "PUT", `blob of ${name}`);
      const json = decodeResource(typeUrl, b.value) as { name?: string; clusterName?: string };
      assert.equal(json.name ?? json.clusterName, name);
    }
  }

  // Same objects, translated and built in-process: the same content-derived version.
  const input = new Map(objects.map((o) => [objectKey(refOf(o)), o]));
  const cfg = testConfig();
  const direct = buildSnapshots(
    translate(
      { objects: input },
      {
        controllerName: cfg.controllerName,
        waypointClassName: cfg.waypointClassName,
        bindAddress: cfg.bindAddress,
      },
    ),
  );
  assert.equal(direct.snapshots.find((s) => s.key === manifestKey(wp))?.version, m.version);

  for (const o of objects.filter((x) => ["GatewayClass", "Gateway", "HTTPRoute"].includes(x.kind))) {
    const s = await getJson<StatusEntry>(env.status, objectKey(refOf(o)));
    assert.ok(s, `status of ${o.kind} ${o.metadata.name}`);
    assert.ok(JSON.stringify(s.status).includes('"lastTransitionTime"'), "conditions stamped");
  }
});
