// Hand-rolled protobuf wire encoding of the few xDS messages the server writes. Resource bytes arrive
// already encoded (blobs from NATS), so the Any / Resource wrappers and whole responses are built by
// concatenating length-delimited fields: a resource is never decoded or re-encoded, and a response
// body shared by many proxies is encoded once (protobuf accepts fields in any order, so a per-stream
// nonce field is simply appended).

function varintSize(n: number): number {
  let size = 1;
  while (n >= 0x80) {
    n = Math.floor(n / 128);
    size++;
  }
  return size;
}

function writeVarint(out: Uint8Array, pos: number, n: number): number {
  while (n >= 0x80) {
    out[pos++] = (n & 0x7f) | 0x80;
    n = Math.floor(n / 128);
  }
  out[pos++] = n;
  return pos;
}

/**
 * One length-delimited field (wire type 2) per part: [field number, bytes or a string written as
 * UTF-8]. Empty parts are kept.
 */
export type Field = readonly [number, Uint8Array | string];

/** Concatenates length-delimited fields into one message. */
export function encodeFields(fields: readonly Field[]): Buffer {
  // Strings are written straight into the message: encoding each into its own array first cost a
  // native allocation per string, several per response and stream.
  const lengths = fields.map(([, v]) => (typeof v === "string" ? Buffer.byteLength(v, "utf8") : v.length));
  let size = 0;
  for (const [i, [no]] of fields.entries())
    size += varintSize((no << 3) | 2) + varintSize(lengths[i]!) + lengths[i]!;
  const out = Buffer.allocUnsafe(size); // every byte is written below
  let pos = 0;
  for (const [i, [no, v]] of fields.entries()) {
    pos = writeVarint(out, pos, (no << 3) | 2);
    pos = writeVarint(out, pos, lengths[i]!);
    if (typeof v === "string") out.write(v, pos, "utf8");
    else out.set(v, pos);
    pos += lengths[i]!;
  }
  return out;
}

/** A string field, omitted when empty (proto3 default). */
function str(no: number, s: string): Field[] {
  return s ? [[no, s]] : [];
}

/** google.protobuf.Any { type_url = 1; value = 2 } around already-encoded message bytes. */
export function encodeAny(typeUrl: string, value: Uint8Array): Uint8Array {
  return encodeFields([...str(1, typeUrl), ...(value.length ? [[2, value] as Field] : [])]);
}

/** envoy.service.discovery.v3.Resource { version = 1; resource = 2 (Any); name = 3 }. */
export function encodeDeltaResource(name: string, version: string, any: Uint8Array): Uint8Array {
  return encodeFields([...str(1, version), [2, any], ...str(3, name)]);
}

/** DiscoveryResponse without its nonce: version_info = 1, resources = 2 (Any bytes), type_url = 4. */
export function encodeSotwBody(version: string, typeUrl: string, anys: readonly Uint8Array[]): Uint8Array {
  return encodeFields([...str(1, version), ...anys.map((a): Field => [2, a]), ...str(4, typeUrl)]);
}

/** A complete DiscoveryResponse: a (shared) body plus this stream's nonce (field 5). */
export function withSotwNonce(body: Uint8Array, nonce: string): Buffer {
  return Buffer.concat([body, encodeFields(str(5, nonce))]);
}

/** DeltaDiscoveryResponse: system_version_info = 1, resources = 2, type_url = 4, nonce = 5, removed = 6. */
export function encodeDeltaResponse(r: {
  systemVersion: string;
  typeUrl: string;
  resources: readonly Uint8Array[];
  removed: readonly string[];
  nonce: string;
}): Buffer {
  const fields: Field[] = [
    ...str(1, r.systemVersion),
    ...r.resources.map((b): Field => [2, b]),
    ...str(4, r.typeUrl),
    ...str(5, r.nonce),
    ...r.removed.map((n): Field => [6, n]),
  ];
  return encodeFields(fields);
}
