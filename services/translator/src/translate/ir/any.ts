// google.protobuf.Any in proto3 JSON: "@type" first, then the packed message's own fields. The
// generated AnyJson says only that "@type" may be there, so each typed_config is built from the
// generated JSON type of the message it packs, and `pack` checks that shape before widening it.
import type { AnyJson } from "@waymark/envoy-proto";

const PREFIX = "type.googleapis.com/";

export function pack<T extends object>(typeName: string, message: T): AnyJson {
  return { "@type": PREFIX + typeName, ...message };
}

const FILTER_CONFIG = "envoy.config.route.v3.FilterConfig";

/**
 * A route's or virtual host's FilterConfig that turns on a filter placed disabled in the connection
 * manager, with the filter's per-route config: an empty Any when it has none (Envoy refuses a
 * FilterConfig without config unless it disables).
 */
export function filterOn(config: AnyJson = {}): AnyJson {
  return pack(FILTER_CONFIG, { config });
}

/** A route's or virtual host's FilterConfig that turns a filter off there. */
export function filterOff(): AnyJson {
  return pack(FILTER_CONFIG, { disabled: true });
}
