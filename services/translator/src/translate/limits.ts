// Limits shared by the translation and the Envoy configuration it is served to. Pure constants and
// the runtime layer that sets them in a waypoint's bootstrap, so the two can never disagree.
import type { TemplateLimits } from "@waymark/inja";

// The RE2 limits and the bootstrap runtime layer that sets them live with the bootstrap, so the
// translator's regex check and the Envoy that serves the result can never disagree.
export { RE2_MAX_PROGRAM_SIZE, RE2_WARN_PROGRAM_SIZE, waypointRuntime } from "@waymark/waypoint";

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
