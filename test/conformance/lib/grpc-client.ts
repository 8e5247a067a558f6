// The mesh client's gRPC requests (a case with Protocol "grpc"): a unary call to the echo server's
// GrpcEcho service (conformance/echo-basic/grpcecho.proto in the module; grpc-client.test.ts checks
// the field numbers below against it), over plaintext HTTP/2 to the client's stand-in route, with the
// :authority the suite names ("echo:7070").
// The reply's assertions are what the comparison reads: the fully qualified method (as the path), the
// :authority (as the host), the request metadata (as the headers) and the pod's context.
//
// The request message is empty; the reply is decoded with a small protobuf reader (varints and
// length-delimited fields are all EchoResponse uses) instead of a generated stub.
import { credentials, Client as GrpcClient, Metadata, status } from "@grpc/grpc-js";
import type { MeshResponse } from "./client.ts";
import { GRPC_ECHO_METHOD } from "./compare.ts";

/** field number → the values of that field (length-delimited as bytes, varints as numbers). */
type Fields = Map<number, Array<Buffer | number>>;

function readVarint(buf: Buffer, at: number): [number, number] {
  let value = 0;
  let shift = 0;
  let i = at;
  for (;;) {
    const b = buf[i++];
    if (b === undefined) throw new Error("truncated varint");
    value += (b & 0x7f) * 2 ** shift;
    if (b < 0x80) return [value, i];
    shift += 7;
  }
}

/** The fields of one protobuf message (wire types 0, 1, 2 and 5). */
export function decodeFields(buf: Buffer): Fields {
  const out: Fields = new Map();
  let i = 0;
  while (i < buf.length) {
    const [key, next] = readVarint(buf, i);
    i = next;
    const field = Math.floor(key / 8);
    const wire = key & 7;
    let value: Buffer | number;
    if (wire === 0) {
      [value, i] = readVarint(buf, i);
    } else if (wire === 2) {
      const [len, start] = readVarint(buf, i);
      value = buf.subarray(start, start + len);
      i = start + len;
    } else if (wire === 1) {
      value = buf.subarray(i, i + 8);
      i += 8;
    } else if (wire === 5) {
      value = buf.subarray(i, i + 4);
      i += 4;
    } else {
      throw new Error(`unsupported wire type ${wire}`);
    }
    out.set(field, [...(out.get(field) ?? []), value]);
  }
  return out;
}

const bytes = (f: Fields, n: number): Buffer => {
  const v = f.get(n)?.[0];
  return Buffer.isBuffer(v) ? v : Buffer.alloc(0);
};
const str = (f: Fields, n: number) => bytes(f, n).toString("utf8");

/** EchoResponse → what the comparison reads. */
export function echoOf(reply: Buffer): NonNullable<MeshResponse["echo"]> {
  // EchoResponse{assertions=1}; Assertions{fully_qualified_method=1, headers=2, authority=3, context=4};
  // Header{key=1, value=2}; Context{namespace=1, ingress=2, service_name=3, pod=4}.
  const assertions = decodeFields(bytes(decodeFields(reply), 1));
  const context = decodeFields(bytes(assertions, 4));
  const headers: Record<string, string[]> = {};
  for (const h of assertions.get(2) ?? []) {
    if (!Buffer.isBuffer(h)) continue;
    const kv = decodeFields(h);
    const k = str(kv, 1);
    headers[k] = [...(headers[k] ?? []), str(kv, 2)];
  }
  return {
    path: str(assertions, 1),
    host: str(assertions, 3),
    method: "POST",
    namespace: str(context, 1),
    pod: str(context, 4),
    headers,
  };
}

export interface GrpcTarget {
  port: number;
  authority: string;
}

/** One gRPC connection of the mesh client: `call` sends one unary Echo (or `method`) request. */
export class MeshGrpcClient {
  readonly #client: GrpcClient;

  constructor(target: GrpcTarget) {
    this.#client = new GrpcClient(`127.0.0.1:${target.port}`, credentials.createInsecure(), {
      "grpc.default_authority": target.authority,
      "grpc.enable_retries": 0,
    });
  }

  call(headers: Record<string, string>, method = GRPC_ECHO_METHOD, timeoutMs = 5000): Promise<MeshResponse> {
    const md = new Metadata();
    for (const [k, v] of Object.entries(headers)) if (k.toLowerCase() !== "host") md.add(k.toLowerCase(), v);
    const responseHeaders: Record<string, string[]> = {};
    return new Promise((resolve, reject) => {
      const call = this.#client.makeUnaryRequest<Buffer, Buffer>(
        method,
        (b) => b,
        (b) => b,
        Buffer.alloc(0),
        md,
        { deadline: Date.now() + timeoutMs },
        (err, reply) => {
          if (err) {
            if (err.code === status.UNAVAILABLE || err.code === status.DEADLINE_EXCEEDED)
              return reject(new Error(`gRPC ${status[err.code]}: ${err.details}`));
            // Another gRPC status: reported as a response with no echo, status = the gRPC code.
            return resolve({ status: err.code, responseHeaders });
          }
          try {
            resolve({ status: 200, responseHeaders, echo: echoOf(reply ?? Buffer.alloc(0)) });
          } catch (e) {
            reject(e);
          }
        },
      );
      call.on("metadata", (m: Metadata) => {
        for (const [k, v] of Object.entries(m.getMap())) responseHeaders[k] = [String(v)];
      });
    });
  }

  close(): void {
    this.#client.close();
  }
}

/** One request on a connection of its own (the mesh client runs once per attempt). */
export async function sendGrpc(target: GrpcTarget, headers: Record<string, string>, method?: string) {
  const c = new MeshGrpcClient(target);
  try {
    return await c.call(headers, method);
  } finally {
    c.close();
  }
}
