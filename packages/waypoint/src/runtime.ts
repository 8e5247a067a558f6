// The RE2 limits of a waypoint Envoy and the runtime layer of its bootstrap that sets them. The
// translator refuses any regex above RE2_MAX_PROGRAM_SIZE, and the bootstrap raises Envoy's limit to
// that same value, so Envoy never NACKs a regex for its size.

/** A JSON object (the shape of @bufbuild/protobuf's JsonObject, without depending on it). */
type Json = string | number | boolean | null | Json[] | { [k: string]: Json };

/**
 * The largest RE2 program (Envoy's count of compiled instructions) a waypoint Envoy accepts in a
 * regex. Envoy's own default (100) refuses ordinary path regexes such as a few alternatives of
 * versioned paths; the waypoint bootstrap raises it to this value (runtime
 * `re2.max_program_size.error_level`).
 */
export const RE2_MAX_PROGRAM_SIZE = 1000;

/** Above this program size Envoy logs a warning and counts `re2.exceeded_warn_level` (still accepted). */
export const RE2_WARN_PROGRAM_SIZE = 500;

/**
 * The `layered_runtime` of a waypoint bootstrap: a static layer with the RE2 limits, then an admin
 * layer (what Envoy uses when no runtime is configured), so runtime overrides through the admin
 * endpoint keep working.
 */
export function waypointRuntime(): { [k: string]: Json } {
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
