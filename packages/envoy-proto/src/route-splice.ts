// A RouteConfiguration encoded from the bytes of its routes. Protobuf writes a repeated message field
// as one length-delimited record per element, in any order with the other fields, so a virtual host
// is its own fields followed by one `routes` record per route, and a RouteConfiguration its own fields
// followed by one `virtual_hosts` record per virtual host. Each route is encoded once and its bytes
// reused while its JSON object is the same (a translation memo hands back the same object for an
// unchanged route), so a change to one route of thousands re-encodes that route only. The bytes decode
// to the same message as a whole-message encoding; only the order of fields differs.
import { type DescMessage, fromJson, type JsonObject, toBinary } from "@bufbuild/protobuf";
import { EncodeError, registry, TypeUrl } from "./index.ts";

/** RouteConfiguration.virtual_hosts and VirtualHost.routes (envoy/config/route/v3). */
const VIRTUAL_HOSTS_FIELD = 2;
const ROUTES_FIELD = 3;
const WIRE_LENGTH_DELIMITED = 2;

function varint(n: number, out: number[]): void {
  while (n > 0x7f) {
    out.push((n & 0x7f) | 0x80);
    n >>>= 7;
  }
  out.push(n);
}

/** The parts of one length-delimited field record: its key, its length, then the body. */
function record(field: number, body: Uint8Array): Uint8Array[] {
  const head: number[] = [];
  varint((field << 3) | WIRE_LENGTH_DELIMITED, head);
  varint(body.length, head);
  return [Uint8Array.from(head), body];
}

function concat(parts: readonly Uint8Array[]): Uint8Array {
  let length = 0;
  for (const p of parts) length += p.length;
  const out = new Uint8Array(length);
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.length;
  }
  return out;
}

/** Where route bytes are kept between calls (a WeakMap keyed by the route's JSON object). */
export type RouteBytesCache = Pick<WeakMap<JsonObject, Uint8Array>, "get" | "set">;

/** A repeated field's elements (null or absent: none); undefined when it is not a list at all. */
const listOf = (v: unknown): JsonObject[] | undefined =>
  v === undefined || v === null ? [] : Array.isArray(v) ? (v as JsonObject[]) : undefined;

/**
 * Encodes a RouteConfiguration from proto3 JSON as encodeResource() does (unknown fields are errors),
 * taking each route's bytes from `routes` when its JSON object was encoded before.
 */
function messageSchema(typeName: string): DescMessage {
  const schema = registry.getMessage(typeName);
  if (!schema) throw new Error(`${typeName} is not in the registry`);
  return schema;
}

export function encodeRouteConfiguration(
  name: string,
  json: JsonObject,
  routes: RouteBytesCache,
): Uint8Array {
  const encode = (schema: DescMessage, j: JsonObject) => toBinary(schema, fromJson(schema, j, { registry }));
  // From the registry (built on first use, see index.ts) rather than imported: a process that
  // never encodes a route does not load the route protos.
  const RouteConfigurationSchema = messageSchema("envoy.config.route.v3.RouteConfiguration");
  const VirtualHostSchema = messageSchema("envoy.config.route.v3.VirtualHost");
  const RouteSchema = messageSchema("envoy.config.route.v3.Route");
  try {
    // proto3 JSON also accepts the field's proto name, and anything not a list is an error: such
    // input is encoded whole, as encodeResource() would.
    const hosts = listOf(json["virtualHosts"]);
    if (!hosts || "virtual_hosts" in json) return encode(RouteConfigurationSchema, json);
    const parts: Uint8Array[] = [encode(RouteConfigurationSchema, { ...json, virtualHosts: [] })];
    for (const vh of hosts) {
      const list = vh !== null && typeof vh === "object" ? listOf(vh["routes"]) : undefined;
      if (!list) {
        parts.push(...record(VIRTUAL_HOSTS_FIELD, encode(VirtualHostSchema, vh)));
        continue;
      }
      const vhParts: Uint8Array[] = [encode(VirtualHostSchema, { ...vh, routes: [] })];
      for (const r of list) {
        let bytes = routes.get(r);
        if (!bytes) {
          bytes = encode(RouteSchema, r);
          routes.set(r, bytes);
        }
        vhParts.push(...record(ROUTES_FIELD, bytes));
      }
      parts.push(...record(VIRTUAL_HOSTS_FIELD, concat(vhParts)));
    }
    return concat(parts);
  } catch (e) {
    throw new EncodeError(TypeUrl.route, name, e instanceof Error ? e.message : String(e));
  }
}
