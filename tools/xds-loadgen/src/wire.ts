// A minimal protobuf reader for the responses a simulated proxy receives. A response is read once
// into its fields as views over the received buffer (no copies); resources are never decoded here.
// DiscoveryResponse: version_info 1, resources 2 (Any), type_url 4, nonce 5.
// DeltaDiscoveryResponse: system_version_info 1, resources 2 (Resource), type_url 4, nonce 5,
// removed_resources 6. Resource: version 1, resource 2 (Any), name 3. Any: type_url 1, value 2.

import { WaymarkError } from "@waymark/api";

const utf8 = new TextDecoder();

export class WireError extends WaymarkError {
  constructor(message: string) {
    super("wire-error", message);
    this.name = "WireError";
  }
}

/** Calls `field(no, bytes)` for every length-delimited field; skips varint and fixed fields. */
function eachField(buf: Uint8Array, field: (no: number, bytes: Uint8Array) => void): void {
  let pos = 0;
  const varint = (): number => {
    let n = 0;
    let mul = 1;
    for (;;) {
      if (pos >= buf.length) throw new WireError("truncated varint");
      const b = buf[pos++]!;
      n += (b & 0x7f) * mul;
      if (b < 0x80) return n;
      mul *= 128;
    }
  };
  while (pos < buf.length) {
    const tag = varint();
    const no = Math.floor(tag / 8);
    switch (tag & 7) {
      case 0:
        varint();
        break;
      case 1:
        pos += 8;
        break;
      case 5:
        pos += 4;
        break;
      case 2: {
        const len = varint();
        if (pos + len > buf.length) throw new WireError("truncated field");
        field(no, buf.subarray(pos, pos + len));
        pos += len;
        break;
      }
      default:
        throw new WireError(`unsupported wire type ${tag & 7}`);
    }
  }
}

export interface AnyView {
  typeUrl: string;
  value: Uint8Array;
}

export interface ResponseView {
  /** version_info (SotW) or system_version_info (delta). */
  version: string;
  typeUrl: string;
  nonce: string;
  /** SotW: the resources (Any). Delta: the Resource messages, read by readDeltaResource. */
  resources: Uint8Array[];
  /** Delta only. */
  removed: string[];
}

export function readResponse(buf: Uint8Array): ResponseView {
  const r: ResponseView = { version: "", typeUrl: "", nonce: "", resources: [], removed: [] };
  eachField(buf, (no, b) => {
    if (no === 1) r.version = utf8.decode(b);
    else if (no === 2) r.resources.push(b);
    else if (no === 4) r.typeUrl = utf8.decode(b);
    else if (no === 5) r.nonce = utf8.decode(b);
    else if (no === 6) r.removed.push(utf8.decode(b));
  });
  return r;
}

export function readAny(buf: Uint8Array): AnyView {
  const a: AnyView = { typeUrl: "", value: new Uint8Array(0) };
  eachField(buf, (no, b) => {
    if (no === 1) a.typeUrl = utf8.decode(b);
    else if (no === 2) a.value = b;
  });
  return a;
}

export interface DeltaResourceView {
  name: string;
  version: string;
  any: AnyView | undefined;
}

export function readDeltaResource(buf: Uint8Array): DeltaResourceView {
  const r: DeltaResourceView = { name: "", version: "", any: undefined };
  eachField(buf, (no, b) => {
    if (no === 1) r.version = utf8.decode(b);
    else if (no === 2) r.any = readAny(b);
    else if (no === 3) r.name = utf8.decode(b);
  });
  return r;
}
