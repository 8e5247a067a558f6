// The chart's NATS cluster (nats.replicas: 3) and an external cluster (nats.external.replicas): what
// the rendering says, from the values sets nats-cluster and external-nats-cluster of test/deploy/values.
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { test } from "node:test";
import { requireEnv, tempDir } from "@waymark/testing";
import { find, NAMESPACE, type Obj, parseObjects, RELEASE, renderChart } from "../lib/helm.ts";

const name = (c: string) => `${RELEASE}-${c}`;
const SERVICES = ["watcher", "translator", "xds-server"] as const;
const env = (deploy: Obj): Record<string, Obj> =>
  Object.fromEntries(
    (deploy["spec"]["template"]["spec"]["containers"][0]["env"] as Obj[]).map((e) => [e["name"], e]),
  );
const pod = (i: number) => `${name("nats")}-${i}.${name("nats")}-headless.${NAMESPACE}.svc`;

test("nats.replicas 3: a StatefulSet of three started together, routes to every pod, a quorum kept", () => {
  const objs = parseObjects(renderChart("nats-cluster"));
  const sts = find(objs, "StatefulSet", name("nats"));
  assert.equal(sts["spec"]["replicas"], 3);
  assert.equal(sts["spec"]["podManagementPolicy"], "Parallel");
  assert.equal(sts["spec"]["serviceName"], `${name("nats")}-headless`);
  // JetStream storage per pod.
  assert.equal(sts["spec"]["volumeClaimTemplates"][0]["metadata"]["name"], "data");
  const ports = sts["spec"]["template"]["spec"]["containers"][0]["ports"] as Obj[];
  assert.deepEqual(
    ports.map((p) => [p["name"], p["containerPort"]]),
    [
      ["client", 4222],
      ["monitor", 8222],
      ["cluster", 6222],
    ],
  );
  const headless = find(objs, "Service", `${name("nats")}-headless`);
  assert.equal(headless["spec"]["clusterIP"], "None");
  assert.equal(headless["spec"]["publishNotReadyAddresses"], true);
  assert.ok((headless["spec"]["ports"] as Obj[]).some((p) => p["name"] === "cluster" && p["port"] === 6222));
  assert.equal(find(objs, "PodDisruptionBudget", name("nats"))["spec"]["maxUnavailable"], 1);

  const conf = find(objs, "ConfigMap", name("nats"))["data"]["nats.conf"] as string;
  const cluster = /cluster \{([^}]*)\}/.exec(conf)?.[1] ?? "";
  assert.match(cluster, /name: waymark-nats\n\s*port: 6222/);
  assert.deepEqual(
    [...cluster.matchAll(/nats:\/\/(\S+):6222/g)].map((m) => m[1]),
    [0, 1, 2].map(pod),
  );
  // nats-server accepts it as a server of the cluster would read it.
  const file = join(tempDir("nats-cluster-conf"), "nats.conf");
  writeFileSync(file, conf);
  const passwords = {
    WATCHER_PASSWORD: "wa",
    TRANSLATOR_PASSWORD: "wb",
    XDS_SERVER_PASSWORD: "wc",
    CLI_PASSWORD: "wd",
  };
  const check = spawnSync(requireEnv("WAYMARK_NATS_SERVER", "run scripts/bootstrap.sh"), ["-t", "-c", file], {
    env: { ...process.env, POD_NAME: `${name("nats")}-0`, ...passwords },
    encoding: "utf8",
  });
  assert.equal(check.status, 0, check.stderr);
  assert.match(`${check.stdout}${check.stderr}`, /is valid/);
  // The same users on every server: one per service and the CLI.
  assert.deepEqual(
    [...conf.matchAll(/user: "([^"]+)"/g)].map((m) => m[1]),
    ["watcher", "translator", "xds-server", "cli"],
  );

  for (const c of SERVICES) {
    const e = env(find(objs, "Deployment", name(c)));
    assert.equal(e["WAYMARK_NATS_REPLICAS"]?.["value"], "3", c);
    assert.equal(
      e["WAYMARK_NATS_URL"]?.["value"],
      [0, 1, 2].map((i) => `nats://${c}:$(NATS_PASSWORD)@${pod(i)}:4222`).join(","),
      c,
    );
  }

  // The servers reach each other on the route port, and nothing else.
  const np = find(objs, "NetworkPolicy", name("nats"));
  const natsPods = { matchLabels: np["spec"]["podSelector"]["matchLabels"] };
  assert.ok(
    (np["spec"]["ingress"] as Obj[]).some(
      (r) =>
        JSON.stringify(r["from"]) === JSON.stringify([{ podSelector: natsPods }]) &&
        JSON.stringify(r["ports"]) === JSON.stringify([{ port: "cluster", protocol: "TCP" }]),
    ),
    "routes in from the other servers",
  );
  const egress = np["spec"]["egress"] as Obj[];
  assert.equal(egress.length, 2, "DNS and the other servers' route port");
  assert.deepEqual(egress[1], { to: [{ podSelector: natsPods }], ports: [{ port: 6222, protocol: "TCP" }] });
});

test("one NATS server (the default): no routes, no WAYMARK_NATS_REPLICAS, NATS calls nothing", () => {
  const objs = parseObjects(renderChart("default"));
  assert.equal(find(objs, "StatefulSet", name("nats"))["spec"]["replicas"], 1);
  assert.doesNotMatch(find(objs, "ConfigMap", name("nats"))["data"]["nats.conf"], /cluster \{/);
  assert.deepEqual(find(objs, "NetworkPolicy", name("nats"))["spec"]["egress"], []);
  for (const c of SERVICES)
    assert.equal(env(find(objs, "Deployment", name(c)))["WAYMARK_NATS_REPLICAS"], undefined);
});

test("an external NATS cluster: every server's URL with the service's user, its replicas", () => {
  const objs = parseObjects(renderChart("external-nats-cluster"));
  assert.equal(
    objs.some((o) => o["metadata"]["name"].startsWith(name("nats"))),
    false,
  );
  for (const c of SERVICES) {
    const e = env(find(objs, "Deployment", name(c)));
    assert.equal(e["WAYMARK_NATS_REPLICAS"]?.["value"], "3");
    assert.equal(
      e["WAYMARK_NATS_URL"]?.["value"],
      [0, 1, 2].map((i) => `nats://${c}:$(NATS_PASSWORD)@nats-${i}.nats.messaging.svc:4222`).join(","),
    );
  }
});

test("replicas JetStream cannot keep: the rendering fails and says what to use", () => {
  for (const [set, key] of [
    ["nats-cluster", "nats.replicas"],
    ["external-nats-cluster", "nats.external.replicas"],
  ] as const) {
    for (const bad of [0, 2, 4, 7])
      assert.throws(
        () => renderChart(set, [`${key}=${bad}`]),
        new RegExp(`${key.replace(/\./g, "\\.")} is ${bad}: use 1, or 3 or 5 for a JetStream cluster`),
      );
  }
});
