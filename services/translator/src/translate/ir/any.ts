// google.protobuf.Any in proto3 JSON: "@type" first, then the packed message's own fields. The
// generated AnyJson says only that "@type" may be there, so each typed_config is built from the
// generated JSON type of the message it packs, and `pack` checks that shape before widening it.
import type { AnyJson } from "@waymark/envoy-proto";

const PREFIX = "type.googleapis.com/";

export function pack<T extends object>(typeName: string, message: T): AnyJson {
  return { "@type": PREFIX + typeName, ...message };
}
