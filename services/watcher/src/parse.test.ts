import assert from "node:assert/strict";
import { test } from "node:test";
import { parseSourceFile, problemText } from "./parse.ts";

test("multi-document YAML yields each supported object with its document and line", () => {
  const text = [
    "# comment",
    "apiVersion: v1",
    "kind: Service",
    "metadata: { name: httpbin }",
    "spec: { ports: [{ port: 8000 }] }",
    "---",
    "apiVersion: gateway.networking.k8s.io/v1",
    "kind: GatewayClass",
    "metadata: { name: kgateway-waypoint, namespace: ignored }",
    "---",
    "# empty document",
    "",
  ].join("\n");
  const r = parseSourceFile("a.yaml", text);
  assert.ok(r.ok);
  assert.deepEqual(r.problems, []);
  assert.equal(r.objects.length, 2);
  const [svc, gc] = r.objects;
  assert.equal(svc?.object.metadata.namespace, "default", "namespaced kinds default to `default`");
  assert.deepEqual([svc?.doc, svc?.line], [0, 2]);
  assert.equal(gc?.object.metadata.namespace, undefined, "cluster-scoped kinds have no namespace");
  assert.deepEqual([gc?.doc, gc?.line], [1, 7]);
});

test("invalid YAML is one error with line and column, and no objects", () => {
  const r = parseSourceFile(
    "dir/bad.yaml",
    "apiVersion: v1\nkind: Service\nmetadata:\n  name: [a, b\nspec: {}\n",
  );
  assert.equal(r.ok, false);
  if (r.ok) return;
  assert.equal(r.error.reason, "InvalidYAML");
  assert.equal(r.error.file, "dir/bad.yaml");
  assert.equal(r.error.line, 5);
  assert.equal(r.error.column, 1);
  assert.match(problemText(r.error), /^dir\/bad\.yaml:5:1: .*[Ff]low sequence/);
});

test("duplicate mapping keys are invalid YAML", () => {
  const r = parseSourceFile(
    "d.yaml",
    "apiVersion: v1\nkind: Namespace\nkind: Namespace\nmetadata: {name: x}\n",
  );
  assert.equal(r.ok, false);
  if (!r.ok) assert.equal(r.error.line, 3);
});

test("unsupported kinds and incomplete documents are skipped with a problem each", () => {
  const text = [
    "apiVersion: apps/v1",
    "kind: Deployment",
    "metadata: { name: d }",
    "---",
    "kind: Service",
    "metadata: { name: s }",
    "---",
    "apiVersion: v1",
    "kind: Service",
    "metadata: {}",
    "---",
    "apiVersion: gateway.networking.k8s.io/v1alpha2",
    "kind: HTTPRoute",
    "metadata: { name: old }",
    "---",
    "- just a list",
    "---",
    "apiVersion: v1",
    "kind: Service",
    "metadata: { name: Upper }",
    "---",
    "apiVersion: v1",
    "kind: Service",
    "metadata: { name: ok, namespace: httpbin }",
  ].join("\n");
  const r = parseSourceFile("m.yaml", text);
  assert.ok(r.ok);
  assert.deepEqual(
    r.problems.map((p) => [p.reason, p.line]),
    [
      ["UnsupportedKind", 1],
      ["InvalidObject", 5],
      ["InvalidObject", 8],
      ["UnsupportedKind", 12],
      ["InvalidObject", 16],
      ["InvalidObject", 18],
    ],
  );
  assert.match(r.problems[0]?.detail ?? "", /Deployment/);
  assert.match(r.problems[1]?.detail ?? "", /apiVersion/);
  assert.match(r.problems[2]?.detail ?? "", /metadata\.name/);
  assert.deepEqual(
    r.objects.map((o) => `${o.object.metadata.namespace}/${o.object.metadata.name}`),
    ["httpbin/ok"],
  );
});

test("every supported kind and version is accepted; v1beta1 Gateway API and Istio too", () => {
  const docs = [
    ["gateway.networking.k8s.io/v1", "GatewayClass"],
    ["gateway.networking.k8s.io/v1beta1", "Gateway"],
    ["gateway.networking.k8s.io/v1", "HTTPRoute"],
    ["gateway.networking.k8s.io/v1beta1", "ReferenceGrant"],
    ["v1", "Service"],
    ["v1", "Namespace"],
    ["discovery.k8s.io/v1", "EndpointSlice"],
    ["gateway.kgateway.dev/v1alpha1", "TrafficPolicy"],
    ["gateway.kgateway.dev/v1alpha1", "GatewayExtension"],
    ["security.istio.io/v1", "AuthorizationPolicy"],
    ["security.istio.io/v1beta1", "AuthorizationPolicy"],
    ["security.istio.io/v1", "RequestAuthentication"],
    ["security.istio.io/v1beta1", "RequestAuthentication"],
  ].map(([v, k]) => `apiVersion: ${v}\nkind: ${k}\nmetadata:\n  name: x\n`);
  const r = parseSourceFile("all.yml", docs.join("---\n"));
  assert.ok(r.ok);
  assert.deepEqual(r.problems, []);
  assert.equal(r.objects.length, 13);
  // Istio's policies are namespaced: "default" when the document names none.
  assert.equal(r.objects.at(-1)?.object.metadata.namespace, "default");
});

test("Istio kinds of other groups or versions are not read", () => {
  const docs = [
    ["security.istio.io/v1", "PeerAuthentication"],
    ["security.istio.io/v1alpha1", "AuthorizationPolicy"],
    ["networking.istio.io/v1", "AuthorizationPolicy"],
  ].map(([v, k]) => `apiVersion: ${v}\nkind: ${k}\nmetadata:\n  name: x\n`);
  const r = parseSourceFile("istio.yaml", docs.join("---\n"));
  assert.ok(r.ok);
  assert.deepEqual(r.objects, []);
  assert.deepEqual(
    r.problems.map((p) => p.reason),
    ["UnsupportedKind", "UnsupportedKind", "UnsupportedKind"],
  );
});

test("a kind: List is expanded into its items", () => {
  const r = parseSourceFile(
    "l.yaml",
    "apiVersion: v1\nkind: List\nitems:\n- {apiVersion: v1, kind: Namespace, metadata: {name: a}}\n- {apiVersion: v1, kind: Namespace, metadata: {name: b}}\n",
  );
  assert.ok(r.ok);
  assert.deepEqual(
    r.objects.map((o) => o.object.metadata.name),
    ["a", "b"],
  );
});

test("of the ConfigMaps, only Istio's mesh config is read, with its mesh key alone", () => {
  const cm = (ns: string, name: string) =>
    `apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: ${name}\n  namespace: ${ns}\n  annotations: {kubectl.kubernetes.io/last-applied-configuration: x}\ndata:\n  mesh: "extensionProviders: []"\n  meshNetworks: "networks: {}"\n`;
  const docs = [cm("istio-system", "istio"), cm("istio-system", "other"), cm("shop", "istio")];
  const r = parseSourceFile("mesh.yaml", docs.join("---\n"));
  assert.ok(r.ok);
  assert.deepEqual(
    r.objects.map((o) => o.object),
    [
      {
        apiVersion: "v1",
        kind: "ConfigMap",
        metadata: { name: "istio", namespace: "istio-system" },
        data: { mesh: "extensionProviders: []" },
      },
    ],
  );
  assert.deepEqual(
    r.problems.map((p) => [p.reason, p.detail]),
    [
      [
        "UnsupportedKind",
        "document 2: ConfigMap istio-system/other is not read (only istio-system/istio, Istio's mesh config); skipped",
      ],
      [
        "UnsupportedKind",
        "document 3: ConfigMap shop/istio is not read (only istio-system/istio, Istio's mesh config); skipped",
      ],
    ],
  );
  const other = parseSourceFile("mesh.yaml", docs.join("---\n"), "shop");
  assert.ok(other.ok);
  assert.deepEqual(
    other.objects.map((o) => o.object.metadata.namespace),
    ["shop"],
    "WAYMARK_ROOT_NAMESPACE picks the namespace",
  );
});
