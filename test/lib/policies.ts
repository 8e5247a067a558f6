// What the TrafficPolicy end-to-end tests share: a policy's status as the translator publishes it
// (the status bucket), waited for until it has the reason a test expects.
import { objectKey, type StatusEntry } from "@waymark/api";
import { getJson, type KV } from "@waymark/bus";
import { waitFor } from "@waymark/testing";

export interface Condition {
  type: string;
  status: string;
  reason: string;
  message: string;
}

/** The condition `type` of TrafficPolicy httpbin/`name` on its first ancestor, as published now. */
export async function policyCondition(
  statusKv: KV,
  name: string,
  type = "Accepted",
  namespace = "httpbin",
): Promise<Condition | undefined> {
  const s = await getJson<StatusEntry>(
    statusKv,
    objectKey({ group: "gateway.kgateway.dev", kind: "TrafficPolicy", namespace, name }),
  );
  const a = (s?.status["ancestors"] as Array<{ conditions: Condition[] }> | undefined)?.[0];
  return a?.conditions.find((x) => x.type === type);
}

/** The Accepted condition of TrafficPolicy httpbin/`name`, once its reason is `reason`. */
export function policyAccepted(statusKv: KV, name: string, reason: string): Promise<Condition> {
  return waitFor(`TrafficPolicy ${name} ${reason}`, async () => {
    const c = await policyCondition(statusKv, name);
    return c?.reason === reason ? c : undefined;
  });
}
