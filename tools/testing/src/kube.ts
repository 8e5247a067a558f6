// A real Kubernetes control plane for tests, from the binaries scripts/bootstrap-k8s.sh builds: etcd,
// kube-apiserver (TLS, RBAC, service-account tokens), and optionally kube-controller-manager,
// kube-scheduler and KWOK (one fake node) so Deployments roll out. The Gateway API CRDs (from the
// Gateway API module), Istio's security.istio.io CRDs (from the istio.io/api module: AuthorizationPolicy,
// RequestAuthentication, PeerAuthentication) and Waymark's deploy/ manifests are installed. Certificates and keys are made
// with openssl per cluster.
import { execFile as execFileCb, spawn } from "node:child_process";
import {
  createHash,
  createPrivateKey,
  createPublicKey,
  generateKeyPairSync,
  randomBytes,
  sign,
} from "node:crypto";
import { mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { createServer } from "node:net";
import { networkInterfaces, tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import { claimPort } from "./ports.ts";
import { freePort, type Proc, startProcess, tempDir, waitFor } from "./process.ts";

const execFile = promisify(execFileCb);

export interface KubeBinaries {
  bin: string;
  etcd: string;
  kwok: string;
  kwokStages: string;
  gatewayApiCrds: string;
  /** The directory of Istio's CRDs, one file per API group (`security.istio.io.yaml`…). */
  istioCrds: string;
}

/** The binaries from the environment (scripts/bootstrap-k8s.sh exports these); undefined when absent. */
export function kubeBinaries(): KubeBinaries | undefined {
  const bin = process.env["WAYMARK_K8S_BIN"];
  const etcd = process.env["WAYMARK_ETCD"];
  const kwok = process.env["WAYMARK_KWOK_BIN"];
  const crds = process.env["WAYMARK_GATEWAY_API_CRDS"];
  const stages = process.env["WAYMARK_KWOK_STAGES"];
  const istio = process.env["WAYMARK_ISTIO_CRDS"];
  if (!bin || !etcd || !kwok || !crds || !stages || !istio) return undefined;
  return { bin, etcd, kwok: join(kwok, "kwok"), kwokStages: stages, gatewayApiCrds: crds, istioCrds: istio };
}

export interface KubeClusterOptions {
  logDir: string;
  /** Start kube-controller-manager, kube-scheduler and KWOK (default true). */
  workloads?: boolean;
  /** Extra kube-apiserver flags (e.g. a small watch cache). */
  apiserverArgs?: string[];
  /** Extra etcd flags. */
  etcdArgs?: string[];
  /** The API groups of Istio CRDs installed (default security.istio.io only; [] for none). */
  istioCrdGroups?: readonly string[];
  /** Manifests (files or directories) applied with the admin identity after start. */
  manifests?: string[];
  /**
   * Pods on a real node (node.ts) reach the API server: it listens on the host's own address (see
   * hostAddress) and advertises it, so the `kubernetes` Service's endpoint is one a pod can route to,
   * and its certificate names that address and the Service's ClusterIP. `server` is then that address.
   * Their claims are bound to PersistentVolumes too (the volume binder runs). Default false:
   * 127.0.0.1 only.
   */
  podAccess?: boolean;
}

/** The `kubernetes` Service's ClusterIP: the first address of the service range below. */
export const KUBERNETES_SERVICE_IP = "10.96.0.1";

export interface KubeCluster {
  dir: string;
  /** The cluster's CA (ca.crt, ca.key) and certificates; node.ts signs a node's certificates with it. */
  pki: string;
  server: string;
  /** kubeconfig of the cluster admin (system:masters). */
  adminKubeconfig: string;
  etcdUrl: string;
  /** Runs kubectl as admin (or with another kubeconfig); resolves with stdout, rejects with stderr. */
  kubectl(args: string[], o?: { input?: string; kubeconfig?: string }): Promise<string>;
  /** A kubeconfig for a ServiceAccount (a bound token from the TokenRequest API). */
  serviceAccountKubeconfig(namespace: string, name: string, audience?: string): Promise<string>;
  /** A token for a ServiceAccount with the given audience. */
  token(namespace: string, name: string, audience: string): Promise<string>;
  /**
   * Stops (SIGTERM, or SIGKILL with `kill`) and starts kube-apiserver (same flags, same port);
   * whileDown runs while it is stopped.
   */
  restartApiserver(downMs?: number, whileDown?: () => Promise<void>, o?: { kill?: boolean }): Promise<void>;
  /** The service-account key kube-apiserver was started with (it signs and verifies tokens). */
  serviceAccountKey: ServiceAccountKey;
  /**
   * Restarts kube-apiserver (etcd kept, same port) signing service-account tokens with `signing` and
   * accepting tokens signed by any of `verify` (its --service-account-key-file list, which its JWKS
   * publishes). The other flags are kept.
   */
  restartWithServiceAccountKeys(
    signing: ServiceAccountKey,
    verify: readonly ServiceAccountKey[],
  ): Promise<void>;
  /**
   * A kubeconfig authenticating with a client certificate of the cluster's CA for `user` in `groups`
   * (e.g. `system:serviceaccount:<ns>:<name>`, whom RBAC treats as that ServiceAccount): an identity
   * that outlives a change of the service-account keys.
   */
  certificateKubeconfig(user: string, groups: readonly string[]): Promise<string>;
  /** Starting time of each part, ms. */
  timings: Record<string, number>;
  stop(): Promise<void>;
}

/** An RSA key pair for service-account tokens, as PEM files, and the key id kube-apiserver gives it. */
export interface ServiceAccountKey {
  privateKeyFile: string;
  publicKeyFile: string;
  /** base64url of the SHA-256 of the public key's DER (SubjectPublicKeyInfo): kube-apiserver's kid. */
  kid: string;
}

function serviceAccountKeyOf(privateKeyFile: string, publicKeyFile: string): ServiceAccountKey {
  const der = createPublicKey(readFileSync(publicKeyFile)).export({ type: "spki", format: "der" });
  return { privateKeyFile, publicKeyFile, kid: createHash("sha256").update(der).digest("base64url") };
}

/** A new service-account key pair, `<name>.key` and `<name>.pub` in `dir`. */
export function makeServiceAccountKey(dir: string, name: string): ServiceAccountKey {
  mkdirSync(dir, { recursive: true });
  const { privateKey, publicKey } = generateKeyPairSync("rsa", { modulusLength: 2048 });
  const privateKeyFile = join(dir, `${name}.key`);
  const publicKeyFile = join(dir, `${name}.pub`);
  writeFileSync(privateKeyFile, privateKey.export({ type: "pkcs8", format: "pem" }));
  writeFileSync(publicKeyFile, publicKey.export({ type: "spki", format: "pem" }));
  return serviceAccountKeyOf(privateKeyFile, publicKeyFile);
}

/**
 * A service-account token signed with `key`, with the claims kube-apiserver puts in one it issues
 * through the TokenRequest API (RS256, the key's kid). With `key` in the API server's
 * --service-account-key-file list, the API server accepts it too (a TokenReview authenticates it), so
 * a test gets tokens that live less than the TokenRequest API's 10-minute minimum.
 */
export function signServiceAccountToken(
  key: ServiceAccountKey,
  o: {
    issuer?: string;
    audience: string;
    namespace: string;
    serviceAccount: string;
    /** The ServiceAccount's metadata.uid (the API server checks it). */
    uid: string;
    /** Lifetime from now, in seconds. */
    seconds: number;
  },
): string {
  const now = Math.floor(Date.now() / 1000);
  const b64 = (v: unknown) => Buffer.from(JSON.stringify(v)).toString("base64url");
  const input = `${b64({ alg: "RS256", kid: key.kid })}.${b64({
    aud: [o.audience],
    exp: now + o.seconds,
    iat: now,
    nbf: now,
    iss: o.issuer ?? "https://kubernetes.default.svc",
    sub: `system:serviceaccount:${o.namespace}:${o.serviceAccount}`,
    "kubernetes.io": { namespace: o.namespace, serviceaccount: { name: o.serviceAccount, uid: o.uid } },
  })}`;
  const signature = sign("sha256", Buffer.from(input), createPrivateKey(readFileSync(key.privateKeyFile)));
  return `${input}.${signature.toString("base64url")}`;
}

/** The KWOK pods' address range (WAYMARK_KUBE_POD_CIDR, default 198.18.0.0/16, a benchmarking range). */
export function podCidr(): string {
  return process.env["WAYMARK_KUBE_POD_CIDR"] ?? "198.18.0.0/16";
}

/** The pod range's first address (what podNetworkProblem binds to see whether the range is local). */
function podCidrGateway(): string {
  const [net, len] = podCidr().split("/");
  const octets = (net ?? "").split(".");
  octets[3] = "1";
  return `${octets.join(".")}/${len}`;
}

const SUBNET_CLAIMS = join(tmpdir(), "waymark-pod-subnet-claims");

/**
 * KWOK's --cidr for one cluster: a /24 of the pod range of its own, claimed across processes like a
 * port (ports.ts), so that test clusters started side by side never give two pods the same address
 * (a test serving one pod's address would find it taken by another's). Its first address is the
 * gateway; the pods get the ones after it. A range narrower than /16 is used whole.
 */
function clusterPodCidr(): string {
  const [net, len] = podCidr().split("/");
  const octets = (net ?? "").split(".");
  if (Number(len) > 16) return podCidrGateway();
  const start = Math.floor(Math.random() * 256);
  for (let i = 0; i < 256; i++) {
    const n = (start + i) % 256;
    if (!claimPort(n, Date.now(), SUBNET_CLAIMS)) continue;
    return `${octets[0]}.${octets[1]}.${n}.1/24`;
  }
  throw new Error(`no free /24 left in the pod range ${podCidr()}`);
}

/**
 * Whether this process can serve the pods' addresses (it runs under scripts/pod-network.sh or the
 * range is otherwise local): the reason why not, or undefined when it can.
 */
export async function podNetworkProblem(): Promise<string | undefined> {
  const address = podCidrGateway().split("/")[0] ?? "";
  return new Promise((resolve) => {
    const srv = createServer();
    srv.once("error", (err: NodeJS.ErrnoException) =>
      resolve(
        `the pod range ${podCidr()} is not local here (${err.code}): run the test under scripts/pod-network.sh`,
      ),
    );
    srv.listen(0, address, () => srv.close(() => resolve(undefined)));
  });
}

async function openssl(args: string[], cwd: string): Promise<void> {
  await execFile("openssl", args, { cwd });
}

/** Extensions of a client certificate. */
const CLIENT_EXT = "extendedKeyUsage=clientAuth\n";

/**
 * A P-256 key and a certificate for `subj` signed by the test CA of `pki` (ca.crt, ca.key), written to
 * `dir` as <name>.key and <name>.crt; `ext`: the certificate's extensions (openssl's extfile lines).
 * Each has a random serial of its own rather than the CA's serial file, so certificates for a
 * cluster, its clients and its node can be made side by side.
 */
export async function signLeafCertificate(
  pki: string,
  dir: string,
  name: string,
  subj: string,
  ext: string,
  days = 365,
): Promise<{ cert: string; key: string }> {
  const key = join(dir, `${name}.key`);
  const csr = join(dir, `${name}.csr`);
  const cert = join(dir, `${name}.crt`);
  const extFile = join(dir, `${name}.ext`);
  writeFileSync(extFile, ext);
  await openssl(
    ["req", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes"].concat([
      "-keyout",
      key,
      "-out",
      csr,
      "-subj",
      subj,
    ]),
    dir,
  );
  await openssl(
    ["x509", "-req", "-in", csr, "-CA", join(pki, "ca.crt"), "-CAkey", join(pki, "ca.key")].concat([
      "-set_serial",
      `0x${randomBytes(12).toString("hex")}`,
      "-days",
      String(days),
      "-out",
      cert,
      "-extfile",
      extFile,
    ]),
    dir,
  );
  return { cert, key };
}

/**
 * The host's first non-loopback IPv4 address: what pods on a real node's bridge route to through
 * their gateway (the host), unlike 127.0.0.1, which is each pod's own.
 */
export function hostAddress(): string {
  for (const list of Object.values(networkInterfaces()))
    for (const a of list ?? []) if (a.family === "IPv4" && !a.internal) return a.address;
  throw new Error("this host has no IPv4 address besides loopback: pods could not reach it");
}

async function makePki(dir: string, extraIps: readonly string[]): Promise<void> {
  mkdirSync(dir, { recursive: true });
  await openssl(
    ["req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes", "-days", "365"].concat(
      ["-keyout", "ca.key", "-out", "ca.crt", "-subj", "/CN=waymark-test-ca"],
    ),
    dir,
  );
  await signLeafCertificate(
    dir,
    dir,
    "apiserver",
    "/CN=kube-apiserver",
    `subjectAltName=IP:127.0.0.1,${extraIps.map((ip) => `IP:${ip},`).join("")}DNS:localhost,DNS:kubernetes,DNS:kubernetes.default.svc,DNS:kubernetes.default.svc.cluster.local\nextendedKeyUsage=serverAuth\n`,
  );
  await signLeafCertificate(dir, dir, "admin", "/O=system:masters/CN=admin", CLIENT_EXT);
  await openssl(["genpkey", "-algorithm", "RSA", "-pkeyopt", "rsa_keygen_bits:2048", "-out", "sa.key"], dir);
  await openssl(["pkey", "-in", "sa.key", "-pubout", "-out", "sa.pub"], dir);
}

/** A kubeconfig (JSON) for the test cluster at `server` with CA file `ca`, as `user` (its credentials). */
export function kubeconfigJson(server: string, ca: string, user: Record<string, string>): string {
  return JSON.stringify({
    apiVersion: "v1",
    kind: "Config",
    clusters: [{ name: "test", cluster: { server, "certificate-authority": ca } }],
    users: [{ name: "user", user }],
    contexts: [{ name: "test", context: { cluster: "test", user: "user" } }],
    "current-context": "test",
  });
}

export async function startKubeCluster(o: KubeClusterOptions): Promise<KubeCluster> {
  const bins = kubeBinaries();
  if (!bins)
    throw new Error("Kubernetes binaries missing: run scripts/bootstrap-k8s.sh (node scripts/test.ts does)");
  const dir = tempDir("kube");
  const pki = join(dir, "pki");
  const timings: Record<string, number> = {};
  const t0 = performance.now();
  const mark = (what: string, since: number) => {
    timings[what] = Math.round(performance.now() - since);
  };
  const procs: Proc[] = [];
  const stopAll = async () => {
    for (const p of procs.reverse()) await p.stop(3000).catch(() => {});
  };
  try {
    let t = performance.now();
    const listenOn = o.podAccess ? hostAddress() : "127.0.0.1";
    await makePki(pki, o.podAccess ? [listenOn, KUBERNETES_SERVICE_IP] : []);
    mark("pki", t);

    t = performance.now();
    const [etcdPort, peerPort, apiPort] = await Promise.all([freePort(), freePort(), freePort()]);
    const etcdUrl = `http://127.0.0.1:${etcdPort}`;
    const etcd = startProcess({
      name: "etcd",
      command: bins.etcd,
      args: [
        "--data-dir",
        join(dir, "etcd"),
        "--listen-client-urls",
        etcdUrl,
        "--advertise-client-urls",
        etcdUrl,
        "--listen-peer-urls",
        `http://127.0.0.1:${peerPort}`,
        "--initial-advertise-peer-urls",
        `http://127.0.0.1:${peerPort}`,
        "--initial-cluster",
        `default=http://127.0.0.1:${peerPort}`,
        "--unsafe-no-fsync",
        "--log-level",
        "warn",
        ...(o.etcdArgs ?? []),
      ],
      logDir: o.logDir,
    });
    procs.push(etcd);
    await waitFor("etcd", async () => (await fetch(`${etcdUrl}/health`)).ok, 20_000, 100);
    mark("etcd", t);

    const server = `https://${listenOn}:${apiPort}`;
    const serviceAccountKey = serviceAccountKeyOf(join(pki, "sa.key"), join(pki, "sa.pub"));
    const apiArgs = [
      "--etcd-servers",
      etcdUrl,
      "--bind-address",
      listenOn,
      "--advertise-address",
      listenOn,
      "--secure-port",
      String(apiPort),
      "--cert-dir",
      join(dir, "apiserver-certs"),
      "--tls-cert-file",
      join(pki, "apiserver.crt"),
      "--tls-private-key-file",
      join(pki, "apiserver.key"),
      "--client-ca-file",
      join(pki, "ca.crt"),
      "--service-account-key-file",
      join(pki, "sa.pub"),
      "--service-account-signing-key-file",
      join(pki, "sa.key"),
      "--service-account-issuer",
      "https://kubernetes.default.svc",
      "--api-audiences",
      "https://kubernetes.default.svc",
      "--authorization-mode",
      "RBAC",
      "--service-cluster-ip-range",
      "10.96.0.0/16",
      // How it reaches a real kubelet (node.ts) for logs, exec and port-forward: as admin, at the
      // node's InternalIP (a node also reports its name as Hostname, which resolves nowhere here).
      "--kubelet-client-certificate",
      join(pki, "admin.crt"),
      "--kubelet-client-key",
      join(pki, "admin.key"),
      "--kubelet-preferred-address-types",
      "InternalIP,Hostname",
      "--enable-priority-and-fairness=false",
      "--profiling=false",
      "--v",
      "1",
      ...(o.apiserverArgs ?? []),
    ];
    let apiserver: Proc;
    const launchApiserver = () => {
      apiserver = startProcess({
        name: "kube-apiserver",
        command: join(bins.bin, "kube-apiserver"),
        args: apiArgs,
        logDir: o.logDir,
      });
      procs.push(apiserver);
      return apiserver;
    };
    t = performance.now();
    launchApiserver();
    const admin = join(dir, "admin.kubeconfig");
    writeFileSync(
      admin,
      kubeconfigJson(server, join(pki, "ca.crt"), {
        "client-certificate": join(pki, "admin.crt"),
        "client-key": join(pki, "admin.key"),
      }),
    );
    const kubectl = async (args: string[], ko: { input?: string; kubeconfig?: string } = {}) =>
      new Promise<string>((resolve, reject) => {
        const child = spawn(join(bins.bin, "kubectl"), ["--kubeconfig", ko.kubeconfig ?? admin, ...args], {
          stdio: ["pipe", "pipe", "pipe"],
        });
        let out = "";
        let err = "";
        child.stdout.on("data", (d: Buffer) => (out += d.toString()));
        child.stderr.on("data", (d: Buffer) => (err += d.toString()));
        child.on("error", reject);
        child.on("close", (code) =>
          code === 0
            ? resolve(out)
            : reject(new Error(`kubectl ${args.join(" ")}: exit ${code}\n${err}${out}`)),
        );
        child.stdin.end(ko.input ?? "");
      });
    const waitReady = () =>
      waitFor(
        "kube-apiserver /readyz",
        async () => {
          if (apiserver.child.exitCode !== null)
            throw new Error(`kube-apiserver exited:\n${apiserver.log().slice(-2000)}`);
          return (await kubectl(["get", "--raw", "/readyz"])).trim() === "ok";
        },
        60_000,
        200,
      );
    await waitReady();
    mark("kube-apiserver", t);

    if (o.workloads !== false) {
      t = performance.now();
      procs.push(
        startProcess({
          name: "kube-controller-manager",
          command: join(bins.bin, "kube-controller-manager"),
          args: [
            "--kubeconfig",
            admin,
            "--authentication-kubeconfig",
            admin,
            "--authorization-kubeconfig",
            admin,
            "--service-account-private-key-file",
            join(pki, "sa.key"),
            "--root-ca-file",
            join(pki, "ca.crt"),
            "--leader-elect=false",
            "--bind-address",
            "127.0.0.1",
            "--secure-port",
            String(await freePort()),
            "--controllers",
            // A real node's pods may claim volumes: the binder binds claims to the tests' PersistentVolumes.
            `*,-nodeipam,${o.podAccess ? "" : "-persistentvolume-binder,"}-attachdetach,-persistentvolume-expander,-cloud-node-lifecycle,-ttl`,
            "--concurrent-deployment-syncs",
            "2",
            "--v",
            "1",
          ],
          logDir: o.logDir,
        }),
        startProcess({
          name: "kube-scheduler",
          command: join(bins.bin, "kube-scheduler"),
          args: [
            "--kubeconfig",
            admin,
            "--authentication-kubeconfig",
            admin,
            "--authorization-kubeconfig",
            admin,
            "--leader-elect=false",
            "--bind-address",
            "127.0.0.1",
            "--secure-port",
            String(await freePort()),
            "--v",
            "1",
          ],
          logDir: o.logDir,
        }),
        startProcess({
          name: "kwok",
          command: bins.kwok,
          args: [
            "--kubeconfig",
            admin,
            "--config",
            bins.kwokStages,
            "--manage-all-nodes=false",
            "--manage-nodes-with-annotation-selector",
            "kwok.x-k8s.io/node=fake",
            // Pod IPs from a range that scripts/pod-network.sh puts on loopback, so a test can serve a
            // pod's address with a local program (the API server refuses 127.0.0.0/8 in EndpointSlices).
            "--cidr",
            clusterPodCidr(),
            "--node-ip",
            "127.0.0.1",
            "--server-address",
            `127.0.0.1:${await freePort()}`,
          ],
          logDir: o.logDir,
        }),
      );
      await kubectl(["apply", "-f", "-"], {
        input: JSON.stringify({
          apiVersion: "v1",
          kind: "Node",
          metadata: {
            name: "kwok-node-0",
            annotations: { "kwok.x-k8s.io/node": "fake", "node.alpha.kubernetes.io/ttl": "0" },
            labels: { "kubernetes.io/hostname": "kwok-node-0", type: "kwok" },
          },
          spec: {},
        }),
      });
      await waitFor(
        "the KWOK node Ready",
        async () =>
          (await kubectl([
            "get",
            "node",
            "kwok-node-0",
            "-o",
            "jsonpath={.status.conditions[?(@.type=='Ready')].status}",
          ])) === "True",
        60_000,
        250,
      );
      mark("controllers+kwok", t);
    }

    t = performance.now();
    const gw = join(bins.gatewayApiCrds, "standard");
    await kubectl(["apply", "--server-side", "-f", gw]);
    for (const group of o.istioCrdGroups ?? ["security.istio.io"])
      await kubectl(["apply", "--server-side", "-f", join(bins.istioCrds, `${group}.yaml`)]);
    for (const m of o.manifests ?? []) await kubectl(["apply", "--server-side", "-f", m]);
    await kubectl(["wait", "--for=condition=Established", "crd", "--all", "--timeout=60s"]);
    mark("crds+manifests", t);
    timings["total"] = Math.round(performance.now() - t0);

    const token = async (namespace: string, name: string, audience: string) =>
      (
        await kubectl(["-n", namespace, "create", "token", name, "--audience", audience, "--duration", "2h"])
      ).trim();
    const restartApiserver: KubeCluster["restartApiserver"] = async (downMs = 0, whileDown, ro = {}) => {
      await (ro.kill ? apiserver.kill() : apiserver.stop(5000));
      procs.splice(procs.indexOf(apiserver), 1);
      if (downMs) await new Promise((r) => setTimeout(r, downMs));
      try {
        await whileDown?.();
      } finally {
        launchApiserver();
        await waitReady();
      }
    };
    return {
      dir,
      pki,
      server,
      adminKubeconfig: admin,
      etcdUrl,
      kubectl,
      token,
      async serviceAccountKubeconfig(namespace, name, audience = "https://kubernetes.default.svc") {
        const file = join(dir, `${namespace}-${name}.kubeconfig`);
        writeFileSync(
          file,
          kubeconfigJson(server, join(pki, "ca.crt"), { token: await token(namespace, name, audience) }),
        );
        return file;
      },
      serviceAccountKey,
      async restartWithServiceAccountKeys(signing, verify) {
        const kept: string[] = [];
        for (let i = 0; i < apiArgs.length; i++) {
          const flag = apiArgs[i];
          if (flag === "--service-account-key-file" || flag === "--service-account-signing-key-file") i++;
          else kept.push(flag!);
        }
        apiArgs.splice(
          0,
          apiArgs.length,
          ...kept,
          "--service-account-signing-key-file",
          signing.privateKeyFile,
        );
        for (const k of verify) apiArgs.push("--service-account-key-file", k.publicKeyFile);
        await restartApiserver();
      },
      async certificateKubeconfig(user, groups) {
        const name = `client-${createHash("sha256").update(user).digest("hex").slice(0, 12)}`;
        const subj = `${groups.map((g) => `/O=${g}`).join("")}/CN=${user}`;
        const cert = await signLeafCertificate(pki, pki, name, subj, CLIENT_EXT, 1);
        const file = join(dir, `${name}.kubeconfig`);
        writeFileSync(
          file,
          kubeconfigJson(server, join(pki, "ca.crt"), {
            "client-certificate": cert.cert,
            "client-key": cert.key,
          }),
        );
        return file;
      },
      restartApiserver,
      timings,
      stop: stopAll,
    };
  } catch (err) {
    await stopAll();
    throw err;
  }
}
