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

/** DeltaDiscoveryResponse without its nonce: system_version_info = 1, resources = 2, type_url = 4, removed = 6. */
export function encodeDeltaBody(r: {
  systemVersion: string;
  typeUrl: string;
  resources: readonly Uint8Array[];
  removed: readonly string[];
}): Uint8Array {
  return encodeFields([
    ...str(1, r.systemVersion),
    ...r.resources.map((b): Field => [2, b]),
    ...str(4, r.typeUrl),
    ...r.removed.map((n): Field => [6, n]),
  ]);
}

/** The nonce's field number: 5 in both DiscoveryResponse and DeltaDiscoveryResponse. */
const NONCE_FIELD = 5;

/**
 * One response as one stream sends it: a body shared by every stream the same change goes to (encoded
 * once, never copied per stream) and this stream's nonce. The nonce is written as a field of its own
 * before the body's fields (protobuf accepts fields in any order, and a parser sees the same message),
 * so the only per-stream bytes are `head`: the 5-byte gRPC frame header (compressed flag 0, then the
 * message length, which depends on the nonce's length) and the nonce field, about 25 bytes. The
 * stream writes `head` and then `shared` to HTTP/2 as two chunks (see grpc-frames.ts): a 50 KiB
 * RouteConfiguration sent to 5,000 proxies is not copied in JavaScript at all, where it used to be
 * copied three times per proxy (nonce appended, grpc-js's serializer, grpc-js's framing).
 */
export class WireMessage {
  readonly shared: Uint8Array;
  readonly nonce: string;
  /** gRPC frame header plus the nonce field. */
  readonly head: Buffer;
  /** The protobuf message's length (nonce field and body; the gRPC header not counted). */
  readonly byteLength: number;

  constructor(shared: Uint8Array, nonce: string) {
    this.shared = shared;
    this.nonce = nonce;
    const n = Buffer.byteLength(nonce, "utf8");
    const field = n === 0 ? 0 : 1 + varintSize(n) + n; // an empty nonce is the proto3 default: omitted
    this.byteLength = field + shared.length;
    const head = Buffer.allocUnsafe(5 + field);
    head[0] = 0;
    head.writeUInt32BE(this.byteLength, 1);
    if (n > 0) {
      const pos = writeVarint(head, 6, n);
      head[5] = (NONCE_FIELD << 3) | 2;
      head.write(nonce, pos, "utf8");
    }
    this.head = head;
  }

  /** The whole protobuf message in one buffer (a copy: for tests, logs and grpc-js's own path). */
  bytes(): Buffer {
    const out = Buffer.allocUnsafe(this.byteLength);
    this.head.copy(out, 0, 5);
    out.set(this.shared, this.head.length - 5);
    return out;
  }

  /** The whole gRPC frame (header and message) in one buffer (a copy). */
  framed(): Buffer {
    return Buffer.concat([this.head, this.shared]);
  }
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
