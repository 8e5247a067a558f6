// Stage 4: attach the TrafficPolicies. Each compiled route gets the per-filter config of the
// route-level and rule-level policies in force on its entries; each (route, waypoint) it is
// programmed into is recorded for the policies' status. The waypoint IR's slots are filled later,
// once it is built (PolicyTranslation.waypoint).
import type { ObjectIndex } from "../input/objects.ts";
import type { CompiledRoutes } from "../routes/stage.ts";
import type { TranslatorSettings } from "../types.ts";
import { PolicyTranslation } from "./translation.ts";

export function attachPolicies(
  index: ObjectIndex,
  settings: TranslatorSettings,
  routes: CompiledRoutes,
): PolicyTranslation {
  const policies = new PolicyTranslation(index, settings);
  if (!policies.any()) return policies;
  for (const { work, parents } of routes.all) {
    policies.route(work.compiled);
    for (const p of parents) if (!p.rejected && p.waypoint) policies.attached(work.compiled, p.waypoint);
  }
  return policies;
}
