// Where the mesh config's providers come from: the root namespace's `istio` ConfigMap (key `mesh`)
// when there is one, else the WAYMARK_MESH_CONFIG setting; a ConfigMap that does not parse gives an
// error naming it (the CUSTOM policies then deny), never a throw.
import assert from "node:assert/strict";
import { test } from "node:test";
import type { KubeObject } from "@waymark/api";
import { indexObjects } from "../input/objects.ts";
import { type ExtAuthzProvider, meshProviders } from "./mesh-config.ts";

const fromSetting: ExtAuthzProvider = {
  name: "setting",
  kind: "grpc",
  service: { namespace: "a", name: "b" },
  port: 1,
};
const cm = (namespace: string, mesh: string | undefined): KubeObject =>
  ({
    apiVersion: "v1",
    kind: "ConfigMap",
    metadata: { name: "istio", namespace },
    ...(mesh === undefined ? {} : { data: { mesh } }),
  }) as KubeObject;
const index = (...os: KubeObject[]) =>
  indexObjects(new Map(os.map((o) => [`${o.metadata.namespace}/${o.metadata.name}`, o])));
const yaml =
  "extensionProviders:\n- name: cm\n  envoyExtAuthzHttp: {service: authz.auth.svc.cluster.local, port: 80}\n";

test("no ConfigMap: the setting; a ConfigMap in the root namespace wins over it", () => {
  const settings = { extensionProviders: [fromSetting] };
  const none = meshProviders(index(), settings);
  assert.deepEqual(none, { providers: [fromSetting], source: "WAYMARK_MESH_CONFIG" });
  const r = meshProviders(index(cm("istio-system", yaml)), settings);
  assert.deepEqual(
    r.providers.map((p) => p.name),
    ["cm"],
  );
  assert.equal(r.source, "ConfigMap istio-system/istio (key mesh)");
  assert.equal(r.error, undefined);
  // Another namespace's `istio` ConfigMap is not the mesh config; the root namespace is a setting.
  assert.equal(meshProviders(index(cm("other", yaml)), settings).providers[0], fromSetting);
  assert.equal(meshProviders(index(cm("other", yaml)), { rootNamespace: "other" }).providers[0]?.name, "cm");
});

test("a ConfigMap that does not parse, or has no mesh key: an error naming it and the path", () => {
  const bad = meshProviders(
    index(cm("istio-system", "extensionProviders:\n- name: x\n  envoyExtAuthzGrpc: {port: 1}\n")),
    {},
  );
  assert.deepEqual(bad.providers, []);
  assert.match(
    bad.error!,
    /^mesh config ConfigMap istio-system\/istio \(key mesh\): extensionProviders\[0\]\.envoyExtAuthzGrpc\.service: is required/,
  );
  assert.match(meshProviders(index(cm("istio-system", ": : [")), {}).error!, /key mesh\): not YAML/);
  assert.match(meshProviders(index(cm("istio-system", undefined)), {}).error!, /the key is missing/);
  assert.deepEqual(meshProviders(index(cm("istio-system", "")), {}), {
    providers: [],
    source: "ConfigMap istio-system/istio (key mesh)",
  });
});
