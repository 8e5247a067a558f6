// Limits shared by the translation and the Envoy configuration it is served to. Pure constants and
// the runtime layer that sets them in a waypoint's bootstrap, so the two can never disagree.
import type { JsonObject } from "@waymark/envoy-proto";
import type { TemplateLimits } from "@waymark/inja";

/**
 * The largest RE2 program (Envoy's count of compiled instructions) a waypoint Envoy accepts in a
 * regex. Envoy's own default (100) refuses ordinary path regexes such as a few alternatives of
 * versioned paths; the waypoint bootstrap raises it to this value (runtime
 * `re2.max_program_size.error_level`) and the translator refuses any regex whose estimated size is
 * above it, with a status message, so Envoy never NACKs a regex for its size.
 */
export const RE2_MAX_PROGRAM_SIZE = 1000;

/** Above this program size Envoy logs a warning and counts `re2.exceeded_warn_level` (still accepted). */
export const RE2_WARN_PROGRAM_SIZE = 500;

/**
 * The `layered_runtime` of a waypoint bootstrap: a static layer with the RE2 limits, then an admin
 * layer (what Envoy uses when no runtime is configured), so runtime overrides through the admin
 * endpoint keep working.
 */
export function waypointRuntime(): JsonObject {
  return {
    layers: [
      {
        name: "waymark-static",
        static_layer: {
          "re2.max_program_size.error_level": RE2_MAX_PROGRAM_SIZE,
          "re2.max_program_size.warn_level": RE2_WARN_PROGRAM_SIZE,
        },
      },
      { name: "admin", admin_layer: {} },
    ],
  };
}

/**
 * The most HTTPRoutes one waypoint programs (TranslatorSettings.maxRoutesPerWaypoint). Beyond it the
 * newest routes are not programmed and their status says why. 5,000 routes of a few rules each make
 * a waypoint configuration of some tens of MiB, which Envoy still loads in seconds and which fits the
 * xds-server's default gRPC send limit; more than that on one waypoint is almost certainly a mistake
 * (or an attack), and one waypoint's size must not starve the others.
 */
export const DEFAULT_MAX_ROUTES_PER_WAYPOINT = 5000;

/** The environment variable of the translator that sets maxRoutesPerWaypoint (named in status messages). */
export const MAX_ROUTES_ENV = "WAYMARK_MAX_ROUTES_PER_WAYPOINT";

/** The translator's environment variable of each template limit (named in status messages). */
export const TEMPLATE_LIMIT_ENV: Readonly<Record<keyof TemplateLimits, string>> = Object.freeze({
  maxLength: "WAYMARK_TEMPLATE_MAX_LENGTH",
  maxExpressionDepth: "WAYMARK_TEMPLATE_MAX_EXPRESSION_DEPTH",
  maxBlockDepth: "WAYMARK_TEMPLATE_MAX_BLOCK_DEPTH",
  maxLoops: "WAYMARK_TEMPLATE_MAX_LOOPS",
  maxElements: "WAYMARK_TEMPLATE_MAX_ELEMENTS",
});
