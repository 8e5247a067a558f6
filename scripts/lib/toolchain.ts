// Makes the programs of scripts/bootstrap.sh available to this process: runs the (idempotent,
// cached) bootstrap when its variables are missing and applies the `export` lines it prints.
import { execFileSync, spawnSync } from "node:child_process";
import { join } from "node:path";
import { fileURLToPath } from "node:url";

const root = join(fileURLToPath(import.meta.url), "..", "..", "..");

/** Runs a bootstrap script and applies the `export NAME="value"` lines it prints. */
function applyExports(script: string): void {
  const out = execFileSync(join(root, "scripts", script), {
    encoding: "utf8",
    stdio: ["ignore", "pipe", "inherit"],
  });
  for (const line of out.split("\n")) {
    const m = /^export ([A-Z0-9_]+)="(.*)"$/.exec(line);
    if (!m) continue;
    process.env[m[1]!] = m[2]!.replace("$PATH", process.env["PATH"] ?? "");
  }
}

/**
 * Ory Hydra (an OpenID Connect provider) and Chromium for the OAuth2 end-to-end test
 * (scripts/bootstrap-oauth2.sh: hydra built once, then cached; chromium from Debian when missing).
 */
export function ensureOAuth2(): void {
  if (!process.env["WAYMARK_HYDRA"] || !process.env["WAYMARK_CHROMIUM"]) applyExports("bootstrap-oauth2.sh");
}

/** Jaeger v2 for the tracing end-to-end tests (scripts/bootstrap-jaeger.sh: built once, then cached). */
export function ensureJaeger(): void {
  if (!process.env["WAYMARK_JAEGER"]) applyExports("bootstrap-jaeger.sh");
}

/**
 * Envoy's rate limit service and Redis for the global rate limit end-to-end tests
 * (scripts/bootstrap-ratelimit.sh: built once, then cached; redis-server from Debian when missing).
 */
export function ensureRateLimit(): void {
  if (!process.env["WAYMARK_RATELIMIT"] || !process.env["WAYMARK_REDIS"])
    applyExports("bootstrap-ratelimit.sh");
}

/** oauth2-proxy and Istio's sample ext-authz server for the ext_authz e2e tests (scripts/bootstrap-ext-authz.sh). */
export function ensureExtAuthz(): void {
  if (!process.env["WAYMARK_OAUTH2_PROXY"] || !process.env["WAYMARK_EXT_AUTHZ"])
    applyExports("bootstrap-ext-authz.sh");
}

/** The Gateway API conformance module and its echo-basic (scripts/bootstrap-conformance.sh). */
export function ensureConformance(): void {
  if (!process.env["WAYMARK_ECHO_BASIC"] || !process.env["WAYMARK_GWAPI_CONFORMANCE"])
    applyExports("bootstrap-conformance.sh");
}

/** helm and hadolint for the chart and Dockerfile tests (scripts/bootstrap-helm.sh). */
export function ensureHelm(): void {
  if (!process.env["WAYMARK_HELM"] || !process.env["WAYMARK_HADOLINT"]) applyExports("bootstrap-helm.sh");
}

/**
 * The images of deploy/docker and the Envoy, go-httpbin and NATS images, built without a container daemon
 * (scripts/build-images.sh: cached by a hash of their inputs), and the programs that build and run
 * them (buildah, umoci, runc from Debian, installed when missing: CI runs as root).
 */
export function ensureImages(): void {
  const has = (c: string) => spawnSync("sh", ["-c", `command -v ${c}`], { stdio: "ignore" }).status === 0;
  const root = process.getuid?.() === 0;
  const missing = ["buildah", "umoci", "runc"].filter((c) => !has(c));
  if (missing.length > 0 && root) {
    const apt = {
      stdio: ["ignore", "ignore", "inherit"] as ["ignore", "ignore", "inherit"],
      env: { ...process.env, DEBIAN_FRONTEND: "noninteractive" },
    };
    execFileSync("apt-get", ["update", "-qq"], apt);
    execFileSync("apt-get", ["install", "-y", "-qq", ...missing], apt);
  }
  // Without root or buildah there is nothing to build: test/deploy/images.test.ts says so and skips.
  if (!process.env["WAYMARK_IMAGES"] && root && has("buildah")) applyExports("build-images.sh");
}

/** etcd, kube-apiserver, kubectl, KWOK, the Gateway API and Istio CRDs (scripts/bootstrap-k8s.sh). */
export function ensureKube(): void {
  if (
    !process.env["WAYMARK_K8S_BIN"] ||
    !process.env["WAYMARK_KWOK_STAGES"] ||
    !process.env["WAYMARK_ISTIO_CRDS"]
  )
    applyExports("bootstrap-k8s.sh");
}

/**
 * kubelet, kube-proxy, containerd, runc, the CNI plugins and the node's images for the tests with a
 * real node (scripts/bootstrap-node.sh; tools/testing/src/node.ts).
 */
export function ensureNode(): void {
  if (
    !process.env["WAYMARK_NODE_BIN"] ||
    !process.env["WAYMARK_CONTAINERD"] ||
    !process.env["WAYMARK_NODE_BUSYBOX_IMAGE"] ||
    !process.env["WAYMARK_COREDNS"]
  )
    applyExports("bootstrap-node.sh");
}

export function ensureToolchain(): void {
  if (process.env["WAYMARK_ENVOY"] && process.env["WAYMARK_NATS_SERVER"] && process.env["WAYMARK_HTTPBIN"])
    return;
  const out = execFileSync(join(root, "scripts", "bootstrap.sh"), {
    encoding: "utf8",
    stdio: ["ignore", "pipe", "inherit"],
  });
  for (const line of out.split("\n")) {
    const m = /^export ([A-Z0-9_]+)="(.*)"$/.exec(line);
    if (!m) continue;
    process.env[m[1]!] = m[2]!.replace("$PATH", process.env["PATH"] ?? "");
  }
}
