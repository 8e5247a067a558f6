// The oauth2 feature of TrafficPolicy: Envoy's oauth2 filter (the authorization code flow: a browser
// without a session is sent to the provider's login, the callback's code is exchanged for tokens at
// the token endpoint through the IdP's Service, and the session lives in HMAC-signed cookies). The
// filter has no per-route config, so each OAuth2 GatewayExtension in force on a waypoint is one filter,
// placed disabled in every connection manager and enabled per route entry (or per virtual host,
// Gateway-level) by a FilterConfig whose config is an empty Any. Its client and HMAC secrets are SDS resources of the
// waypoint's snapshot. Invalid oauth2 fails closed.
import { pack } from "../../ir/any.ts";
import type { PerFilterConfig, PlacedHttpFilter } from "../../ir/types.ts";
import type { BackendTarget } from "../../routes/backends.ts";
import type { PolicyFeature } from "../feature.ts";
import { type OAuth2, readOAuth2Policy } from "./spec.ts";

const FILTER = "envoy.extensions.filters.http.oauth2.v3.OAuth2";
const FILTER_CONFIG = "envoy.config.route.v3.FilterConfig";

export const oauth2Feature: PolicyFeature<OAuth2> = {
  field: "oauth2",
  failClosed: true,
  read: readOAuth2Policy,
  equal: (a, b) => a.filterName === b.filterName && a.key === b.key,
  filtersFor(values): PlacedHttpFilter[] {
    const seen = new Set<string>();
    const out: PlacedHttpFilter[] = [];
    for (const v of values) {
      if (seen.has(v.filterName)) continue;
      seen.add(v.filterName);
      out.push({
        slot: "oauth2",
        filter: { name: v.filterName, disabled: true, typedConfig: pack(FILTER, v.filter) },
      });
    }
    return out;
  },
  backendsFor(values): BackendTarget[] {
    return values.map((v) => v.backend);
  },
  secretsFor(values) {
    return values.flatMap((v) => v.secrets);
  },
  perRoute(v): PerFilterConfig {
    // An empty Any as the config (no type URL): Envoy's way to enable a filter placed disabled that
    // has no per-route config of its own (a FilterConfig without config is refused).
    return { [v.filterName]: pack(FILTER_CONFIG, { config: {} }) };
  },
};
