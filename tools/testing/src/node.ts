// A real Kubernetes node for a test cluster (kube.ts): containerd with runc, the CNI bridge and
// host-local plugins, a kubelet and kube-proxy (iptables mode), from scripts/bootstrap-node.sh.
// Pods scheduled to it really run, on a bridge of its own, and a ClusterIP Service reaches them
// through kube-proxy's rules from the host and from other pods.
//
// It runs as root in the host's network namespace: the kubelet mounts volumes, runc makes the pods'
// namespaces and cgroups, the CNI plugins make a bridge and veths, kube-proxy writes iptables rules.
// Everything it makes is its own and named so (a temp dir with containerd's root, state and socket,
// the kubelet's root dir and pod logs; the bridge wmnode<N>; the cgroup /waymark-node-<N>; the CNI
// network's IP allocations under the temp dir), and stop() removes it. Two things are host-wide and
// so one node runs per host at a time (a lock, waited for): kube-proxy's KUBE-* iptables chains and
// the two sysctls set below (net.ipv4.ip_forward, restored at stop; bridge-nf-call-iptables).
//
// cgroup v1: these machines mount cgroup v1 (/sys/fs/cgroup is a tmpfs with one hierarchy per
// controller, cgroup2 only at /sys/fs/cgroup/unified, so runc's IsCgroup2UnifiedMode is false). What
// kubelet 1.36 needs there (read from its source, pkg/kubelet/apis/config and cm):
//   - `failCgroupV1: false` in its KubeletConfiguration (or --fail-cgroupv1=false): the v1beta1
//     default is true since 1.35, and then config validation refuses to start ("kubelet is configured
//     to not run on a host using cgroup v1"). With false it starts and logs/records the CgroupV1
//     deprecation warning event on the Node, nothing more.
//   - `cgroupDriver: cgroupfs` (no systemd runs here), and containerd's runc runtime with
//     SystemdCgroup = false, so both write the same cgroupfs paths.
//   - singleProcessOOMKill left unset: on v1 it is always true, and an explicit false fails validation.
//   - the cpu, cpuacct, cpuset and memory hierarchies mounted (the container manager checks them) and
//     the cgroupRoot existing in cpu, cpuacct, cpuset, memory, pids and name=systemd (Validate): a
//     cgroupRoot of our own (/waymark-node-<N>, made here in every hierarchy, removed at stop) keeps
//     the node's kubepods tree apart from anything else on the host.
//   - no feature gate: MemoryQoS and the other cgroup-v2-only features stay off by default.
import { execFile as execFileCb } from "node:child_process";
import {
  existsSync,
  mkdirSync,
  readdirSync,
  readFileSync,
  rmdirSync,
  rmSync,
  statSync,
  writeFileSync,
} from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { promisify } from "node:util";
import type { KubeCluster } from "./kube.ts";
import { kubeconfigJson, podCidr, signLeafCertificate } from "./kube.ts";
import { claimPort } from "./ports.ts";
import { freePort, type Proc, startProcess, tempDir, waitFor } from "./process.ts";

const execFile = promisify(execFileCb);

export interface NodeBinaries {
  kubelet: string;
  kubeProxy: string;
  containerd: string;
  ctr: string;
  runc: string;
  cniBin: string;
  /** OCI archive of the pod sandbox image (waymark.test/pause:1 once imported). */
  pauseImage: string;
  /** OCI archive of a busybox image for test pods (waymark.test/busybox:1 once imported). */
  busyboxImage: string;
  /** CoreDNS (scripts/bootstrap-node.sh), for a node whose pods resolve Service names. */
  coredns?: string;
}

/** The node's programs from the environment (scripts/bootstrap-node.sh exports these); undefined when absent. */
export function nodeBinaries(): NodeBinaries | undefined {
  const e = (n: string) => process.env[n];
  const bin = e("WAYMARK_NODE_BIN");
  const containerd = e("WAYMARK_CONTAINERD");
  const runc = e("WAYMARK_RUNC");
  const cniBin = e("WAYMARK_CNI_BIN");
  const pauseImage = e("WAYMARK_NODE_PAUSE_IMAGE");
  const busyboxImage = e("WAYMARK_NODE_BUSYBOX_IMAGE");
  if (!bin || !containerd || !runc || !cniBin || !pauseImage || !busyboxImage) return undefined;
  const coredns = e("WAYMARK_COREDNS");
  return {
    ...(coredns && existsSync(coredns) ? { coredns } : {}),
    kubelet: join(bin, "kubelet"),
    kubeProxy: join(bin, "kube-proxy"),
    containerd,
    ctr: join(dirname(containerd), "ctr"),
    runc,
    cniBin,
    pauseImage,
    busyboxImage,
  };
}

/** The image names the bootstrap's archives are imported as. */
export const PAUSE_IMAGE = "waymark.test/pause:1";
export const BUSYBOX_IMAGE = "waymark.test/busybox:1";

/**
 * Why a real node cannot run in this process, or undefined when it can: it needs Linux, root (the
 * capabilities of mounts, namespaces, iptables) and the node's programs.
 */
export function nodeProblem(): string | undefined {
  if (process.platform !== "linux") return "a real node needs Linux";
  if (process.getuid?.() !== 0) return "a real node needs root (mounts, network namespaces, iptables)";
  if (!nodeBinaries()) return "the node's programs are missing: run scripts/bootstrap-node.sh";
  return undefined;
}

export interface KubeNodeOptions {
  cluster: KubeCluster;
  logDir: string;
  /** Node name (default waymark-node-<N>, N the claimed subnet's third octet). */
  name?: string;
  /** How long to wait for the host-wide node lock (default 10 min: another test's node may be up). */
  lockTimeoutMs?: number;
  /**
   * Cluster DNS for the node's pods: CoreDNS on the node's address (port 53), answering for
   * CLUSTER_DOMAIN from the cluster's Services and EndpointSlices, and the kubelet's clusterDNS
   * pointing there (pods with dnsPolicy ClusterFirst get it and the search domains). Default false.
   */
  dns?: boolean;
}

/** The cluster domain of a node with DNS (the kubelet's clusterDomain, CoreDNS's zone). */
export const CLUSTER_DOMAIN = "cluster.local";

export interface KubeNode {
  name: string;
  /** The node's InternalIP: the bridge's address, the pods' gateway. */
  ip: string;
  /** The pods' subnet (a /24 of NODE_POD_RANGE). */
  podSubnet: string;
  bridge: string;
  /** The kubelet's cgroupRoot (cgroupfs path), in every hierarchy under /sys/fs/cgroup. */
  cgroupRoot: string;
  /** The kubelet's kubeconfig (system:node:<name>); the cluster's admin kubeconfig is the cluster's. */
  kubeconfig: string;
  /** containerd's socket (CRI and containerd API, namespace k8s.io). */
  containerdSocket: string;
  /** Runs ctr against this node's containerd in namespace k8s.io; resolves with stdout. */
  ctr(args: string[]): Promise<string>;
  /**
   * Imports an OCI (or docker) image archive into the node's containerd, for pods with
   * imagePullPolicy Never or IfNotPresent; resolves with the names imported. baseName names images
   * whose archive carries only a tag (`<baseName>:<tag>`); without it the archive's names are kept.
   */
  importImage(archive: string, baseName?: string): Promise<string[]>;
  /** Files and logs of the node's parts. */
  dir: string;
  procs: { containerd: Proc; kubelet: Proc; kubeProxy: Proc; coredns?: Proc };
  /**
   * Removes the node's pods (through the kubelet, so their sandboxes' networks are torn down by
   * CNI), stops kube-proxy (and removes its rules), the kubelet and containerd with every shim, and
   * removes the bridge, the cgroups, the mounts and the files. Idempotent.
   */
  stop(): Promise<void>;
}

/**
 * The node pods' address range: 198.19.0.0/16, beside the KWOK pods' default 198.18.0.0/16 (both in
 * the benchmarking range 198.18.0.0/15). Each node claims a /24 of it, like kube.ts's per-cluster
 * claims; startKubeNode refuses a range that overlaps WAYMARK_KUBE_POD_CIDR.
 */
export const NODE_POD_RANGE = "198.19.0.0/16";
const NODE_SUBNET_CLAIMS = join(tmpdir(), "waymark-node-subnet-claims");
const NODE_LOCK = join(tmpdir(), "waymark-node-lock");
const CGROUP_ROOT = "/sys/fs/cgroup";

function ipToInt(ip: string): number {
  return ip.split(".").reduce((a, o) => a * 256 + Number(o), 0);
}

function overlaps(a: string, b: string): boolean {
  const [an, al] = a.split("/");
  const [bn, bl] = b.split("/");
  const len = Math.min(Number(al), Number(bl));
  const mask = len === 0 ? 0 : (0xffffffff << (32 - len)) >>> 0;
  return (ipToInt(an ?? "") & mask) >>> 0 === (ipToInt(bn ?? "") & mask) >>> 0;
}

function claimSubnet(): number {
  const start = 1 + Math.floor(Math.random() * 254);
  for (let i = 0; i < 254; i++) {
    const n = 1 + ((start - 1 + i) % 254);
    if (claimPort(n, Date.now(), NODE_SUBNET_CLAIMS)) return n;
  }
  throw new Error(`no free /24 left in ${NODE_POD_RANGE}`);
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

/** The host-wide node lock: a directory made atomically, holding its owner's pid; a dead owner's lock is taken over. */
async function lockHost(timeoutMs: number): Promise<() => void> {
  const owner = join(NODE_LOCK, "pid");
  await waitFor(
    "the host-wide node lock (another real node is up on this host)",
    () => {
      try {
        mkdirSync(NODE_LOCK);
        writeFileSync(owner, String(process.pid));
        return true;
      } catch {
        let pid = 0;
        try {
          pid = Number(readFileSync(owner, "utf8"));
        } catch {
          // made but not written yet, or just removed: try again
          if (existsSync(NODE_LOCK) && Date.now() - statSync(NODE_LOCK).mtimeMs > 60_000)
            rmSync(NODE_LOCK, { recursive: true, force: true });
          return false;
        }
        if (pid && !alive(pid)) rmSync(NODE_LOCK, { recursive: true, force: true });
        return false;
      }
    },
    timeoutMs,
    500,
  );
  return () => rmSync(NODE_LOCK, { recursive: true, force: true });
}

async function run(command: string, args: string[], o: { cwd?: string } = {}): Promise<string> {
  try {
    return (await execFile(command, args, { cwd: o.cwd, maxBuffer: 64 << 20 })).stdout;
  } catch (err) {
    const e = err as { stderr?: string; message: string };
    throw new Error(`${command} ${args.join(" ")}: ${e.stderr || e.message}`);
  }
}

/** The cgroup hierarchies mounted under /sys/fs/cgroup (v1 ones, and v2's unified when hybrid). */
function cgroupMounts(): string[] {
  return readFileSync("/proc/self/mountinfo", "utf8")
    .split("\n")
    .map((l) => l.split(" "))
    .filter((f) => {
      const sep = f.indexOf("-");
      return sep > 0 && /^cgroup2?$/.test(f[sep + 1] ?? "");
    })
    .map((f) => f[4] ?? "")
    .filter((m) => m.startsWith(`${CGROUP_ROOT}/`) || m === CGROUP_ROOT);
}

/** Removes a cgroup directory tree, deepest first (a cgroup is removed with rmdir once empty). */
function rmCgroupTree(path: string): void {
  if (!existsSync(path)) return;
  for (const e of readdirSync(path, { withFileTypes: true }))
    if (e.isDirectory()) rmCgroupTree(join(path, e.name));
  try {
    rmdirSync(path);
  } catch {}
}

/** Mount points at or under `dir`, deepest first (mountinfo's field 5, octal escapes decoded). */
function mountsUnder(dir: string): string[] {
  return readFileSync("/proc/self/mountinfo", "utf8")
    .split("\n")
    .map((l) =>
      (l.split(" ")[4] ?? "").replace(/\\(\d{3})/g, (_, o: string) => String.fromCharCode(parseInt(o, 8))),
    )
    .filter((m) => m === dir || m.startsWith(`${dir}/`))
    .sort((a, b) => b.length - a.length);
}

/** Processes whose command line names `needle` (containerd's shims carry its socket's address). */
function pidsNaming(needle: string): number[] {
  const pids: number[] = [];
  for (const e of readdirSync("/proc")) {
    if (!/^\d+$/.test(e) || Number(e) === process.pid) continue;
    try {
      if (readFileSync(`/proc/${e}/cmdline`, "utf8").split("\0").includes(needle)) pids.push(Number(e));
    } catch {}
  }
  return pids;
}

async function sysctl(key: string, value?: string): Promise<string> {
  const path = `/proc/sys/${key.replaceAll(".", "/")}`;
  const before = readFileSync(path, "utf8").trim();
  if (value !== undefined && before !== value) writeFileSync(path, value);
  return before;
}

export async function startKubeNode(o: KubeNodeOptions): Promise<KubeNode> {
  const problem = nodeProblem();
  if (problem) throw new Error(problem);
  const bins = nodeBinaries()!;
  if (overlaps(NODE_POD_RANGE, podCidr()))
    throw new Error(`the node pods' range ${NODE_POD_RANGE} overlaps WAYMARK_KUBE_POD_CIDR ${podCidr()}`);
  const unlock = await lockHost(o.lockTimeoutMs ?? 600_000);
  const n = claimSubnet();
  const name = o.name ?? `waymark-node-${n}`;
  const ip = `198.19.${n}.1`;
  const podSubnet = `198.19.${n}.0/24`;
  const bridge = `wmnode${n}`;
  const cgroupRoot = `/waymark-node-${n}`;
  const dir = tempDir("node");
  const sock = join(dir, "containerd.sock");
  const procs: Proc[] = [];
  const { cluster } = o;
  const ca = join(cluster.pki, "ca.crt");
  let ipForward: string | undefined;
  let stopped = false;

  const ctr = (args: string[]) => run(bins.ctr, ["--address", sock, "--namespace", "k8s.io", ...args]);
  const onNode = async () =>
    JSON.parse(
      await cluster.kubectl(["get", "pods", "-A", "--field-selector", `spec.nodeName=${name}`, "-o", "json"]),
    ) as { items: Array<{ metadata: { namespace: string; name: string } }> };

  let coredns: Proc | undefined;
  const leftNetns = new Set<string>();
  const teardown = async () => {
    if (stopped) return;
    stopped = true;
    const [containerd, kubelet, kubeProxy] = [procs[0], procs[1], procs[2]];
    // The pods first, through the kubelet: it stops their containers and removes their sandboxes,
    // which runs CNI DEL (veth, IP allocation, portmap rules).
    if (kubelet && kubelet.child.exitCode === null) {
      try {
        const pods = (await onNode()).items;
        for (const p of pods)
          await cluster.kubectl([
            "-n",
            p.metadata.namespace,
            "delete",
            "pod",
            p.metadata.name,
            "--grace-period=0",
            "--force",
            "--wait=false",
          ]);
        await waitFor(
          "the node's sandboxes removed by the kubelet",
          async () => (await ctr(["containers", "ls", "-q"])).trim() === "",
          60_000,
          250,
        );
      } catch {}
    }
    await kubeProxy?.stop(5000);
    await run(bins.kubeProxy, ["--cleanup"]).catch(() => "");
    await kubelet?.stop(5000);
    // The kubelet's own chains, which kube-proxy --cleanup leaves: KUBE-FIREWALL (jumped to from
    // filter INPUT and OUTPUT), the KUBE-KUBELET-CANARY chains and mangle's KUBE-IPTABLES-HINT.
    for (const ipt of ["iptables", "ip6tables"]) {
      const rule = async (args: string[]) => run(ipt, ["-w", ...args]).catch(() => "");
      for (const hook of ["INPUT", "OUTPUT"]) await rule(["-t", "filter", "-D", hook, "-j", "KUBE-FIREWALL"]);
      for (const [table, chain] of [
        ["filter", "KUBE-FIREWALL"],
        ["filter", "KUBE-KUBELET-CANARY"],
        ["nat", "KUBE-KUBELET-CANARY"],
        ["mangle", "KUBE-KUBELET-CANARY"],
        ["mangle", "KUBE-IPTABLES-HINT"],
      ] as const) {
        await rule(["-t", table, "-F", chain]);
        await rule(["-t", table, "-X", chain]);
      }
    }
    // What is left (a kubelet that died early): containers and tasks straight through containerd.
    if (containerd && containerd.child.exitCode === null) {
      const ids = (await ctr(["containers", "ls", "-q"]).catch(() => "")).split("\n").filter(Boolean);
      for (const id of ids) {
        // A sandbox's network namespace is a file under /var/run/netns that CNI DEL would remove.
        const info = await ctr(["containers", "info", id]).catch(() => "{}");
        const spec = (
          JSON.parse(info) as { Spec?: { linux?: { namespaces?: Array<{ type: string; path?: string }> } } }
        ).Spec;
        const netns = spec?.linux?.namespaces?.find((x) => x.type === "network")?.path;
        if (netns?.startsWith("/var/run/netns/") || netns?.startsWith("/run/netns/")) leftNetns.add(netns);
        await ctr(["tasks", "kill", "--signal", "SIGKILL", id]).catch(() => "");
        await ctr(["tasks", "delete", "--force", id]).catch(() => "");
        await ctr(["containers", "delete", id]).catch(() => "");
      }
    }
    await containerd?.stop(5000);
    await coredns?.stop(3000);
    // Shims are containerd's children that outlive it by design; each names its socket.
    for (const pid of pidsNaming(sock)) {
      try {
        process.kill(pid, "SIGKILL");
      } catch {}
    }
    await waitFor("containerd's shims gone", () => pidsNaming(sock).length === 0, 10_000, 50).catch(() => {});
    for (const m of mountsUnder(dir)) await run("umount", ["--lazy", m]).catch(() => "");
    for (const netns of leftNetns) {
      await run("umount", [netns]).catch(() => "");
      rmSync(netns, { force: true });
    }
    await run("ip", ["link", "delete", bridge]).catch(() => "");
    for (const mount of cgroupMounts()) rmCgroupTree(join(mount, cgroupRoot));
    await cluster.kubectl(["delete", "node", name, "--ignore-not-found", "--wait=false"]).catch(() => "");
    if (ipForward !== undefined) await sysctl("net.ipv4.ip_forward", ipForward).catch(() => "");
    if (mountsUnder(dir).length === 0) {
      // The containerd root and the kubelet's dir are large; the logs stay in logDir.
      rmSync(join(dir, "containerd"), { recursive: true, force: true });
      rmSync(join(dir, "kubelet"), { recursive: true, force: true });
    }
    unlock();
  };

  try {
    // Certificates from the cluster's CA: the kubelet's client (system:node:<name> in system:nodes,
    // which NodeRestriction confines to its own Node and pods) and server (the API server's exec and
    // logs connect to it), and kube-proxy's client (system:kube-proxy, bound to system:node-proxier
    // by the API server's default RBAC).
    const certs = join(dir, "pki");
    mkdirSync(certs, { recursive: true });
    const kubeletClient = await signLeafCertificate(
      cluster.pki,
      certs,
      "kubelet-client",
      `/O=system:nodes/CN=system:node:${name}`,
      "extendedKeyUsage=clientAuth\n",
    );
    const kubeletServer = await signLeafCertificate(
      cluster.pki,
      certs,
      "kubelet-server",
      `/CN=${name}`,
      `subjectAltName=IP:${ip},DNS:${name}\nextendedKeyUsage=serverAuth\n`,
    );
    const proxyClient = await signLeafCertificate(
      cluster.pki,
      certs,
      "kube-proxy",
      "/CN=system:kube-proxy",
      "extendedKeyUsage=clientAuth\n",
    );
    const kubeconfigFile = (file: string, c: { cert: string; key: string }) => {
      writeFileSync(
        file,
        kubeconfigJson(cluster.server, ca, { "client-certificate": c.cert, "client-key": c.key }),
      );
      return file;
    };
    const kubeletKubeconfig = kubeconfigFile(join(dir, "kubelet.kubeconfig"), kubeletClient);
    const proxyKubeconfig = kubeconfigFile(join(dir, "kube-proxy.kubeconfig"), proxyClient);
    // RBAC has no binding for nodes by default (the Node authorizer is not on in the test cluster):
    // the system:node role to the system:nodes group.
    await cluster.kubectl(["apply", "-f", "-"], {
      input: JSON.stringify({
        apiVersion: "rbac.authorization.k8s.io/v1",
        kind: "ClusterRoleBinding",
        metadata: { name: "waymark-test-nodes" },
        roleRef: { apiGroup: "rbac.authorization.k8s.io", kind: "ClusterRole", name: "system:node" },
        subjects: [{ apiGroup: "rbac.authorization.k8s.io", kind: "Group", name: "system:nodes" }],
      }),
    });

    // The network: a bridge holding the node's address (the pods' gateway), made before the kubelet
    // so that its node IP exists; the CNI bridge plugin takes it over. Forwarding on, for pods that
    // reach a Service whose endpoint is another pod; bridged traffic through iptables, so that
    // kube-proxy's rules also see pod-to-pod replies on the bridge.
    await run("ip", ["link", "add", bridge, "type", "bridge"]);
    await run("ip", ["addr", "add", `${ip}/24`, "dev", bridge]);
    await run("ip", ["link", "set", bridge, "up"]);
    ipForward = await sysctl("net.ipv4.ip_forward", "1");
    if (existsSync("/proc/sys/net/bridge/bridge-nf-call-iptables"))
      await sysctl("net.bridge.bridge-nf-call-iptables", "1");
    const cniConf = join(dir, "cni");
    mkdirSync(cniConf, { recursive: true });
    writeFileSync(
      join(cniConf, "10-waymark.conflist"),
      JSON.stringify({
        cniVersion: "0.4.0",
        name: `waymark-${n}`,
        plugins: [
          {
            type: "bridge",
            bridge,
            isGateway: true,
            ipMasq: false,
            hairpinMode: true,
            ipam: {
              type: "host-local",
              ranges: [[{ subnet: podSubnet, gateway: ip }]],
              routes: [{ dst: "0.0.0.0/0" }],
              // Not /var/lib/cni: the allocations are this node's.
              dataDir: join(dir, "ipam"),
            },
          },
          { type: "portmap", capabilities: { portMappings: true } },
        ],
      }),
    );

    if (o.dns) {
      if (!bins.coredns) throw new Error("CoreDNS is missing: run scripts/bootstrap-node.sh");
      // On the node's address, the pods' gateway; the cluster's objects read as admin (test
      // infrastructure, not one of Waymark's identities).
      const readyPort = await freePort();
      const corefile = join(dir, "Corefile");
      writeFileSync(
        corefile,
        [
          `${CLUSTER_DOMAIN}:53 {`,
          `  bind ${ip}`,
          "  errors",
          `  ready 127.0.0.1:${readyPort}`,
          `  kubernetes ${CLUSTER_DOMAIN} {`,
          `    kubeconfig ${cluster.adminKubeconfig}`,
          "    ttl 5",
          "  }",
          "}",
          "",
        ].join("\n"),
      );
      coredns = startProcess({
        name: `coredns-${name}`,
        command: bins.coredns,
        args: ["-conf", corefile],
        logDir: o.logDir,
      });
      const dnsProc = coredns;
      await waitFor(
        "CoreDNS ready (its Kubernetes informers synced)",
        async () => {
          if (dnsProc.child.exitCode !== null)
            throw new Error(`coredns exited:\n${dnsProc.log().slice(-2000)}`);
          return (await fetch(`http://127.0.0.1:${readyPort}/ready`).catch(() => undefined))?.ok === true;
        },
        60_000,
        200,
      );
    }

    // containerd: root, state, socket and CNI config of its own; the sandbox image ours (it is
    // imported below, never pulled); runc with cgroupfs (cgroup v1, see above).
    const ctrRoot = join(dir, "containerd");
    const tomlPath = join(dir, "containerd.toml");
    const q = (s: string) => JSON.stringify(s);
    writeFileSync(
      tomlPath,
      [
        "version = 2",
        `root = ${q(join(ctrRoot, "root"))}`,
        `state = ${q(join(ctrRoot, "state"))}`,
        'disabled_plugins = ["io.containerd.snapshotter.v1.aufs", "io.containerd.snapshotter.v1.btrfs", "io.containerd.snapshotter.v1.zfs", "io.containerd.snapshotter.v1.devmapper"]',
        "[grpc]",
        `  address = ${q(sock)}`,
        "[ttrpc]",
        `  address = ${q(`${sock}.ttrpc`)}`,
        "[debug]",
        '  level = "info"',
        '[plugins."io.containerd.internal.v1.opt"]',
        `  path = ${q(join(ctrRoot, "opt"))}`,
        '[plugins."io.containerd.grpc.v1.cri"]',
        `  sandbox_image = ${q(PAUSE_IMAGE)}`,
        // This machine's root lacks CAP_SYS_RESOURCE (CapEff 0x1fffeffffff: bit 24 clear), so no
        // process may lower its oom_score_adj: runc's `failed to update /proc/self/oom_score_adj:
        // Permission denied` for the sandbox's -998. Restricted, containerd keeps every container's
        // score at or above its own (the kubelet's own -999 only logs a warning).
        "  restrict_oom_score_adj = true",
        '  stream_server_address = "127.0.0.1"',
        '  stream_server_port = "0"',
        '  [plugins."io.containerd.grpc.v1.cri".containerd]',
        '    snapshotter = "overlayfs"',
        '    default_runtime_name = "runc"',
        '    [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc]',
        '      runtime_type = "io.containerd.runc.v2"',
        '      [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc.options]',
        `        BinaryName = ${q(bins.runc)}`,
        "        SystemdCgroup = false",
        '  [plugins."io.containerd.grpc.v1.cri".cni]',
        `    bin_dir = ${q(bins.cniBin)}`,
        `    conf_dir = ${q(cniConf)}`,
        "    max_conf_num = 1",
        "",
      ].join("\n"),
    );
    const containerd = startProcess({
      name: `containerd-${name}`,
      command: bins.containerd,
      args: ["--config", tomlPath],
      logDir: o.logDir,
    });
    procs.push(containerd);
    await waitFor(
      "containerd's socket",
      async () => {
        if (containerd.child.exitCode !== null)
          throw new Error(`containerd exited:\n${containerd.log().slice(-2000)}`);
        return (await ctr(["version"])).includes("Server:");
      },
      30_000,
      100,
    );
    const importImage = async (archive: string, baseName?: string) => {
      const out = await ctr(["images", "import", ...(baseName ? ["--base-name", baseName] : []), archive]);
      return [...out.matchAll(/^unpacking (\S+) /gm)].map((m) => m[1]!);
    };
    await importImage(bins.pauseImage, PAUSE_IMAGE.split(":")[0]);

    // The kubelet.
    for (const mount of cgroupMounts()) mkdirSync(join(mount, cgroupRoot), { recursive: true });
    const kubeletDir = join(dir, "kubelet");
    mkdirSync(kubeletDir, { recursive: true });
    const [kubeletPort, healthzPort, proxyHealthz, proxyMetrics] = await Promise.all([
      freePort(),
      freePort(),
      freePort(),
      freePort(),
    ]);
    const kubeletConfig = join(dir, "kubelet.yaml");
    writeFileSync(
      kubeletConfig,
      JSON.stringify({
        apiVersion: "kubelet.config.k8s.io/v1beta1",
        kind: "KubeletConfiguration",
        // cgroup v1 (see the top of this file).
        failCgroupV1: false,
        cgroupDriver: "cgroupfs",
        cgroupRoot,
        containerRuntimeEndpoint: `unix://${sock}`,
        address: ip,
        port: kubeletPort,
        readOnlyPort: 0,
        healthzBindAddress: "127.0.0.1",
        healthzPort,
        // Only the cluster's clients with certificates, each authorized by the API server.
        authentication: {
          anonymous: { enabled: false },
          webhook: { enabled: true },
          x509: { clientCAFile: ca },
        },
        authorization: { mode: "Webhook" },
        tlsCertFile: kubeletServer.cert,
        tlsPrivateKeyFile: kubeletServer.key,
        podLogsDir: join(dir, "pod-logs"),
        failSwapOn: false,
        // Without DNS (o.dns), pods get the host's resolv.conf; with it, the node's CoreDNS.
        resolvConf: "/etc/resolv.conf",
        ...(o.dns ? { clusterDNS: [ip], clusterDomain: CLUSTER_DOMAIN } : {}),
        // Images are imported, not pulled; a disk filling up must not make the node evict or delete
        // them mid-test.
        imageGCHighThresholdPercent: 100,
        imageGCLowThresholdPercent: 99,
        evictionHard: { "memory.available": "1Mi", "nodefs.available": "1%", "imagefs.available": "1%" },
        maxPods: 32,
        serializeImagePulls: false,
        nodeStatusReportFrequency: "10s",
        syncFrequency: "5s",
      }),
    );
    const kubelet = startProcess({
      name: `kubelet-${name}`,
      command: bins.kubelet,
      args: [
        "--config",
        kubeletConfig,
        "--kubeconfig",
        kubeletKubeconfig,
        "--root-dir",
        kubeletDir,
        "--cert-dir",
        join(dir, "kubelet-certs"),
        "--hostname-override",
        name,
        "--node-ip",
        ip,
        "--v",
        "2",
      ],
      logDir: o.logDir,
    });
    procs.push(kubelet);
    await waitFor(
      `node ${name} Ready`,
      async () => {
        if (kubelet.child.exitCode !== null)
          throw new Error(`kubelet exited:\n${kubelet.log().slice(-3000)}`);
        const ready = await cluster.kubectl([
          "get",
          "node",
          name,
          "-o",
          "jsonpath={.status.conditions[?(@.type=='Ready')].status}",
        ]);
        return ready === "True";
      },
      120_000,
      250,
    );

    // kube-proxy, iptables mode; it leaves the host's conntrack sysctls (limits and timeouts: 0)
    // and localhost NodePorts (route_localnet) alone.
    const proxyConfig = join(dir, "kube-proxy.yaml");
    writeFileSync(
      proxyConfig,
      JSON.stringify({
        apiVersion: "kubeproxy.config.k8s.io/v1alpha1",
        kind: "KubeProxyConfiguration",
        mode: "iptables",
        clientConnection: { kubeconfig: proxyKubeconfig },
        hostnameOverride: name,
        bindAddress: ip,
        healthzBindAddress: `127.0.0.1:${proxyHealthz}`,
        metricsBindAddress: `127.0.0.1:${proxyMetrics}`,
        clusterCIDR: podSubnet,
        detectLocalMode: "ClusterCIDR",
        nodePortAddresses: [`${ip}/32`],
        conntrack: { maxPerCore: 0, min: 0, tcpEstablishedTimeout: "0s", tcpCloseWaitTimeout: "0s" },
        iptables: { localhostNodePorts: false, syncPeriod: "30s", minSyncPeriod: "0s" },
      }),
    );
    const kubeProxy = startProcess({
      name: `kube-proxy-${name}`,
      command: bins.kubeProxy,
      args: ["--config", proxyConfig, "--v", "2"],
      logDir: o.logDir,
    });
    procs.push(kubeProxy);
    await waitFor(
      "kube-proxy healthy",
      async () => {
        if (kubeProxy.child.exitCode !== null)
          throw new Error(`kube-proxy exited:\n${kubeProxy.log().slice(-3000)}`);
        return (await fetch(`http://127.0.0.1:${proxyHealthz}/healthz`)).ok;
      },
      60_000,
      200,
    );

    return {
      name,
      ip,
      podSubnet,
      bridge,
      cgroupRoot,
      kubeconfig: kubeletKubeconfig,
      containerdSocket: sock,
      ctr,
      importImage,
      dir,
      procs: { containerd, kubelet, kubeProxy, ...(coredns ? { coredns } : {}) },
      stop: teardown,
    };
  } catch (err) {
    await teardown();
    throw err;
  }
}
