// A real node in the test cluster (tools/testing/src/node.ts): containerd, runc, the CNI bridge, a
// kubelet on cgroup v1 and kube-proxy in iptables mode. The node registers Ready; a busybox Pod (our
// own OCI image, imported) runs, and becomes Ready by its readiness probe, and NotReady when the probe
// fails; `kubectl logs` and `kubectl exec` reach it through the kubelet; a ClusterIP Service reaches
// it through kube-proxy's rules from the host and from another pod; deleting the pods removes their
// containers, veths and IP allocations; stopping the node leaves nothing of it on the host.
// Not a test/e2e/kubernetes*.test.ts file: those run in scripts/pod-network.sh's user namespace, and
// a kubelet needs real root in the host's network namespace.
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { existsSync, readdirSync, readFileSync } from "node:fs";
import { get as httpGet } from "node:http";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import {
  BUSYBOX_IMAGE,
  type KubeCluster,
  type KubeNode,
  nodeProblem,
  startKubeCluster,
  startKubeNode,
  tempDir,
  waitFor,
} from "@waymark/testing";
import { kubeSkip } from "../lib/kube-stack.ts";

const NS = "node-e2e";
const natRules = () => execFileSync("iptables-save", ["-t", "nat"], { encoding: "utf8" });
const skip = kubeSkip || nodeProblem() || false;

describe("a real node: kubelet, containerd, CNI bridge, kube-proxy", { timeout: 600_000, skip }, () => {
  let cluster: KubeCluster;
  let node: KubeNode;
  let logDir: string;
  const k = (args: string[], input?: string) =>
    cluster.kubectl(["-n", NS, ...args], input === undefined ? {} : { input });
  const podJson = async (name: string) =>
    JSON.parse(await k(["get", "pod", name, "-o", "json"])) as {
      spec: { nodeName?: string };
      status: { podIP?: string; phase?: string; conditions?: Array<{ type: string; status: string }> };
    };
  const ready = async (name: string) =>
    (await podJson(name)).status.conditions?.find((c) => c.type === "Ready")?.status;
  // A new connection for every request (no keep-alive): before kube-proxy's rules are in, a
  // connection to the ClusterIP goes out the default route, and one kept alive would stay there.
  const get = (url: string) =>
    new Promise<{ status: number; body: string }>((resolve, reject) => {
      const req = httpGet(url, { agent: false, timeout: 3000 }, (res) => {
        let body = "";
        res.on("data", (d: Buffer) => (body += d.toString()));
        res.on("end", () => resolve({ status: res.statusCode ?? 0, body }));
      });
      req.on("timeout", () => req.destroy(new Error("timeout")));
      req.on("error", reject);
    });

  before(async () => {
    logDir = tempDir("e2e-node");
    console.log(`logs: ${logDir}`);
    cluster = await startKubeCluster({ logDir, istioCrdGroups: [] });
    node = await startKubeNode({ cluster, logDir });
  });

  after(async () => {
    await node?.stop();
    await cluster?.stop();
  });

  test("the node registers Ready, as the kubelet of this build, at its bridge address", async () => {
    const n = JSON.parse(await cluster.kubectl(["get", "node", node.name, "-o", "json"])) as {
      status: {
        conditions: Array<{ type: string; status: string }>;
        addresses: Array<{ type: string; address: string }>;
        nodeInfo: { kubeletVersion: string; kubeProxyVersion?: string; containerRuntimeVersion: string };
      };
    };
    assert.equal(n.status.conditions.find((c) => c.type === "Ready")?.status, "True");
    assert.equal(n.status.nodeInfo.kubeletVersion, "v1.36.3");
    assert.match(n.status.nodeInfo.containerRuntimeVersion, /^containerd:\/\//);
    assert.deepEqual(
      n.status.addresses.filter((a) => a.type === "InternalIP").map((a) => a.address),
      [node.ip],
    );
  });

  test("a Pod runs from an imported image, Ready by its readiness probe; logs and exec work", async () => {
    assert.deepEqual(
      await node.importImage(process.env["WAYMARK_NODE_BUSYBOX_IMAGE"]!, "waymark.test/busybox"),
      [BUSYBOX_IMAGE],
    );
    await cluster.kubectl(["create", "namespace", NS]);
    const pod = (name: string, command: string, probe: boolean) => ({
      apiVersion: "v1",
      kind: "Pod",
      metadata: { name, namespace: NS, labels: { app: name } },
      spec: {
        nodeSelector: { "kubernetes.io/hostname": node.name },
        terminationGracePeriodSeconds: 2,
        containers: [
          {
            name: "main",
            image: BUSYBOX_IMAGE,
            imagePullPolicy: "Never",
            command: ["/bin/sh", "-c", command],
            ports: [{ containerPort: 8080 }],
            ...(probe
              ? {
                  readinessProbe: {
                    httpGet: { path: "/ready", port: 8080 },
                    periodSeconds: 1,
                    failureThreshold: 1,
                  },
                }
              : {}),
          },
        ],
      },
    });
    // Serves /index.html and /ready from /www; ready only once /ready exists.
    const web = pod(
      "web",
      'mkdir -p /www && echo "hello from $(hostname)" > /www/index.html && echo ok > /www/ready && echo "web serving on 8080" && exec httpd -f -p 8080 -h /www',
      true,
    );
    const client = pod("client", 'echo "client up" && exec sleep 3600', false);
    await k(["apply", "-f", "-"], JSON.stringify({ apiVersion: "v1", kind: "List", items: [web, client] }));
    await k(["wait", "--for=condition=Ready", "pod/web", "pod/client", "--timeout=180s"]);
    const p = await podJson("web");
    assert.equal(p.spec.nodeName, node.name);
    assert.ok(p.status.podIP, "the pod has an IP");
    const [net] = node.podSubnet.split("/");
    assert.ok(p.status.podIP.startsWith(net!.replace(/\.0$/, ".")), `${p.status.podIP} in ${node.podSubnet}`);

    // The readiness probe is the kubelet's: without /ready the pod turns NotReady, and Ready again.
    await k(["exec", "web", "--", "rm", "/www/ready"]);
    await waitFor(
      "web NotReady once its probe fails",
      async () => (await ready("web")) === "False",
      60_000,
      250,
    );
    await k(["exec", "web", "--", "sh", "-c", "echo ok > /www/ready"]);
    await waitFor("web Ready again", async () => (await ready("web")) === "True", 60_000, 250);

    assert.match(await k(["logs", "web"]), /^web serving on 8080$/m);
    assert.equal((await k(["exec", "web", "--", "cat", "/www/index.html"])).trim(), "hello from web");
    // The pod's own network: its address on eth0 is the one the API server has.
    assert.match(
      await k(["exec", "web", "--", "ip", "-4", "addr", "show", "eth0"]),
      new RegExp(`inet ${p.status.podIP}/24`),
    );
  });

  test("a ClusterIP Service reaches the pod through kube-proxy, from the host and from another pod", async () => {
    await k(
      ["apply", "-f", "-"],
      JSON.stringify({
        apiVersion: "v1",
        kind: "Service",
        metadata: { name: "web", namespace: NS },
        spec: { selector: { app: "web" }, ports: [{ name: "http", port: 80, targetPort: 8080 }] },
      }),
    );
    const clusterIP = (await k(["get", "service", "web", "-o", "jsonpath={.spec.clusterIP}"])).trim();
    assert.match(clusterIP, /^10\.96\./);
    // Nothing on the host serves the ClusterIP: only kube-proxy's DNAT to the pod answers.
    const fromHost = await waitFor(
      "the Service's ClusterIP answering from the host",
      async () => {
        const r = await get(`http://${clusterIP}/index.html`);
        return r.status === 200 && r.body;
      },
      90_000,
      250,
    );
    assert.equal(fromHost.trim(), "hello from web");
    // busybox's nc (its wget, glibc-static, crashes on the lookup of even a literal address here).
    const fromPod = await waitFor(
      "the ClusterIP answering from the client pod",
      async () => {
        const out = await k([
          "exec",
          "client",
          "--",
          "sh",
          "-c",
          `printf 'GET /index.html HTTP/1.0\\r\\n\\r\\n' | nc -w 3 ${clusterIP} 80`,
        ]);
        return /^HTTP\/1\.[01] 200/.test(out) && out;
      },
      60_000,
      250,
    );
    assert.match(fromPod, /\r\n\r\nhello from web\n$/);
    const rules = await waitFor("kube-proxy's rules for the Service", async () => {
      const out = natRules();
      return out.includes(`${NS}/web:http`) && out;
    });
    assert.match(rules, new RegExp(`-d ${clusterIP.replaceAll(".", "\\.")}/32 .*--dport 80`));
  });

  test("deleting the pods removes their containers, veths and IP allocations", async () => {
    const ipam = join(node.dir, "ipam");
    const allocated = () =>
      existsSync(ipam)
        ? readdirSync(join(ipam, readdirSync(ipam)[0] ?? "")).filter((f) => /^\d+\.\d+\.\d+\.\d+$/.test(f))
        : [];
    assert.equal(allocated().length, 2, "one address for each pod");
    assert.equal(
      (await node.ctr(["tasks", "ls", "-q"])).trim().split("\n").length,
      4,
      "2 sandboxes + 2 containers",
    );
    await k(["delete", "pod", "web", "client", "--wait=true", "--timeout=120s"]);
    await k(["delete", "service", "web"]);
    await waitFor(
      "the pods' sandboxes removed",
      async () => (await node.ctr(["containers", "ls", "-q"])).trim() === "",
      60_000,
      250,
    );
    assert.deepEqual(allocated(), []);
    assert.equal(
      execFileSync("ip", ["-o", "link", "show", "master", node.bridge], { encoding: "utf8" }).trim(),
      "",
    );
    await waitFor(
      "kube-proxy's rules for the Service gone",
      () => !natRules().includes(`${NS}/web:http`),
      30_000,
      250,
    );
  });

  test("stopping the node leaves nothing of it on the host", async () => {
    const sock = node.containerdSocket;
    const cgroup = `/sys/fs/cgroup/memory${node.cgroupRoot}`;
    assert.ok(existsSync(cgroup), `${cgroup} exists while the node runs`);
    await node.stop();
    assert.ok(!existsSync(cgroup), `${cgroup} removed`);
    assert.equal(
      readdirSync("/proc").filter((p) => {
        try {
          return /^\d+$/.test(p) && readFileSync(`/proc/${p}/cmdline`, "utf8").includes(sock);
        } catch {
          return false;
        }
      }).length,
      0,
      "no process names the node's containerd socket",
    );
    assert.ok(
      !readFileSync("/proc/self/mountinfo", "utf8").includes(node.dir),
      "no mount under the node's directory",
    );
    assert.throws(
      () => execFileSync("ip", ["link", "show", node.bridge], { stdio: "pipe" }),
      "the bridge is gone",
    );
    assert.ok(
      !execFileSync("iptables-save", { encoding: "utf8" }).includes("KUBE-"),
      "kube-proxy's and the kubelet's chains are gone",
    );
  });
});
