// Write-back to the cluster, by the leader only: the GatewayClass Waymark installs, the status of
// every object (wm-status) and each waypoint's objects (wm-infra).

import { readFile } from "node:fs/promises";
import { hostname } from "node:os";
import type { KubeObject, Logger } from "@waymark/api";
import type { KV } from "@waymark/bus";
import { parseAllDocuments } from "yaml";
import { APPLY_PATCH, type KubeClient } from "../kube/client.ts";
import type { KubeSourceConfig } from "../kube/config.ts";
import { objectPath, WATCHED } from "../kube/resources.ts";
import type { KubeSource } from "../kube/source.ts";
import { InfraWriter } from "./infra-writer.ts";
import { LeaderElector } from "./lease.ts";
import { StatusWriter } from "./status-writer.ts";

export { APPLIED_HASH, InfraWriter } from "./infra-writer.ts";
export { LeaderElector } from "./lease.ts";
export { StatusWriter } from "./status-writer.ts";

export interface Writeback {
  status: StatusWriter;
  infra: InfraWriter;
  lease: LeaderElector;
  stop(): Promise<void>;
}

export interface WritebackOptions {
  config: KubeSourceConfig;
  client: KubeClient;
  source: KubeSource;
  status: KV;
  infra: KV;
  log: Logger;
}

/** Reads the GatewayClass manifest(s) of the given file. */
export async function readGatewayClasses(file: string): Promise<KubeObject[]> {
  const docs = parseAllDocuments(await readFile(file, "utf8"));
  return docs
    .map((d) => d.toJS() as KubeObject | null)
    .filter((o): o is KubeObject => o !== null && o.kind === "GatewayClass");
}

export async function startWriteback(o: WritebackOptions): Promise<Writeback> {
  const log = o.log.child({ part: "writeback" });
  const fieldManager = o.config.fieldManager;
  const classes = await readGatewayClasses(o.config.gatewayClassFile);
  const status = new StatusWriter({
    client: o.client,
    source: o.source,
    status: o.status,
    log,
    fieldManager,
    controllerNames: classes
      .map((c) => (c.spec as { controllerName?: unknown } | undefined)?.controllerName)
      .filter((n): n is string => typeof n === "string"),
  });
  const infra = new InfraWriter({ client: o.client, infra: o.infra, log, fieldManager });
  await Promise.all([status.start(), infra.start()]);

  let leading = false;
  let classTimer: NodeJS.Timeout | undefined;
  const gwc = WATCHED.find((r) => r.kind === "GatewayClass");
  const installClasses = async (): Promise<void> => {
    if (!leading || !gwc) return;
    try {
      for (const c of classes) {
        await o.client.request("PATCH", objectPath(gwc, "", c.metadata.name), {
          body: c,
          contentType: APPLY_PATCH,
          query: { fieldManager, force: true },
        });
        log.info("GatewayClass applied", { name: c.metadata.name });
      }
    } catch (err) {
      log.warn("cannot apply the GatewayClass yet; retrying", { err });
      classTimer = setTimeout(() => void installClasses(), 2000);
    }
  };

  const lease = new LeaderElector({
    client: o.client,
    log,
    namespace: o.config.lease.namespace,
    name: o.config.lease.name,
    identity: `${hostname()}-${process.pid}`,
    durationMs: o.config.lease.durationMs,
    renewDeadlineMs: o.config.lease.renewDeadlineMs,
    retryMs: o.config.lease.retryMs,
    onStartedLeading() {
      leading = true;
      void installClasses();
      status.setLeading(true);
      infra.setLeading(true);
    },
    onStoppedLeading() {
      leading = false;
      clearTimeout(classTimer);
      status.setLeading(false);
      infra.setLeading(false);
    },
  });
  lease.start();
  return {
    status,
    infra,
    lease,
    async stop() {
      await lease.stop();
      clearTimeout(classTimer);
      await Promise.all([status.stop(), infra.stop()]);
    },
  };
}
