// The Gateway API conformance echo server (echo-basic, scripts/bootstrap-conformance.sh) in its gRPC
// mode as a pod of a test, and a client for its GrpcEcho service (gateway_api_conformance.echo_basic.
// grpcecho.GrpcEcho: Echo, EchoTwo; EchoThree is unimplemented). Each answer says which pod served it,
// the full method it saw and the request metadata it received. The client is @grpc/grpc-js with a
// hand-written reader for the few fields of EchoResponse (no generated code, no proto loader).
import * as grpc from "@grpc/grpc-js";
import { freePort, type Proc, requireEnv, startProcess, waitFor } from "@waymark/testing";

export const GRPC_ECHO_SERVICE = "gateway_api_conformance.echo_basic.grpcecho.GrpcEcho";
const HINT = 'run `eval "$(scripts/bootstrap-conformance.sh)"` first';

export interface GrpcEchoPod {
  name: string;
  port: number;
  proc: Proc;
}

/** Starts echo-basic in gRPC mode on a free port of 127.0.0.1 as pod `name`, and waits until it answers. */
export async function startGrpcEcho(name: string, logDir: string, namespace: string): Promise<GrpcEchoPod> {
  const port = await freePort();
  const proc = startProcess({
    name: `grpc-echo-${name}`,
    command: requireEnv("WAYMARK_ECHO_BASIC", HINT),
    env: { GRPC_ECHO_SERVER: "1", HTTP_PORT: String(port), POD_NAME: name, NAMESPACE: namespace },
    logDir,
  });
  const client = new GrpcEchoClient(port);
  try {
    await waitFor(`gRPC echo pod ${name}`, async () => {
      const r = await client.call("Echo");
      return r.ok ? r : undefined;
    });
  } finally {
    client.close();
  }
  return { name, port, proc };
}

export interface EchoAnswer {
  ok: true;
  /** The pod that answered (POD_NAME). */
  pod: string;
  /** The full method the server saw, e.g. /<service>/Echo. */
  method: string;
  authority: string;
  /** Request metadata as received, lower-case keys, values joined by ",". */
  headers: Record<string, string>;
}

export interface EchoFailure {
  ok: false;
  code: grpc.status;
  details: string;
}

/** A client of GrpcEcho through 127.0.0.1:`port` (a pod, or the ztunnel stand-in of a Service). */
export class GrpcEchoClient {
  readonly #client: grpc.Client;

  /** @param authority the :authority to send (e.g. `echo:7070`, as a client of the Service does). */
  constructor(port: number, authority?: string) {
    this.#client = new grpc.Client(
      `127.0.0.1:${port}`,
      grpc.credentials.createInsecure(),
      authority ? { "grpc.default_authority": authority } : {},
    );
  }

  /** Calls `/<service>/<method>` with an empty EchoRequest. */
  call(
    method: string,
    metadata: Record<string, string> = {},
    service = GRPC_ECHO_SERVICE,
  ): Promise<EchoAnswer | EchoFailure> {
    const md = new grpc.Metadata();
    for (const [k, v] of Object.entries(metadata)) md.set(k, v);
    return new Promise((resolve) => {
      this.#client.makeUnaryRequest(
        `/${service}/${method}`,
        () => Buffer.alloc(0),
        (b: Buffer) => b,
        {},
        md,
        { deadline: Date.now() + 5_000 },
        (err, value) => {
          if (err) resolve({ ok: false, code: err.code, details: err.details });
          else resolve(decodeEchoResponse(value ?? Buffer.alloc(0)));
        },
      );
    });
  }

  close(): void {
    this.#client.close();
  }
}

/** The fields of a protobuf message: field number → its length-delimited values (others skipped). */
function fields(buf: Buffer): Map<number, Buffer[]> {
  const out = new Map<number, Buffer[]>();
  let i = 0;
  const varint = (): number => {
    let v = 0;
    let shift = 0;
    for (;;) {
      const b = buf[i++];
      if (b === undefined) throw new Error("truncated varint");
      v += (b & 0x7f) * 2 ** shift;
      if (b < 0x80) return v;
      shift += 7;
    }
  };
  while (i < buf.length) {
    const tag = varint();
    const field = Math.floor(tag / 8);
    const wire = tag % 8;
    if (wire === 2) {
      const n = varint();
      const list = out.get(field) ?? [];
      list.push(buf.subarray(i, i + n));
      out.set(field, list);
      i += n;
    } else if (wire === 0) varint();
    else if (wire === 1) i += 8;
    else if (wire === 5) i += 4;
    else throw new Error(`unsupported wire type ${wire}`);
  }
  return out;
}

const text = (m: Map<number, Buffer[]>, field: number) => m.get(field)?.[0]?.toString("utf8") ?? "";

/** EchoResponse{assertions: Assertions{fully_qualified_method, headers, authority, context{pod}}}. */
function decodeEchoResponse(buf: Buffer): EchoAnswer {
  const assertions = fields(fields(buf).get(1)?.[0] ?? Buffer.alloc(0));
  const headers: Record<string, string> = {};
  for (const h of assertions.get(2) ?? []) {
    const kv = fields(h);
    const key = text(kv, 1).toLowerCase();
    headers[key] = headers[key] === undefined ? text(kv, 2) : `${headers[key]},${text(kv, 2)}`;
  }
  const context = fields(assertions.get(4)?.[0] ?? Buffer.alloc(0));
  return {
    ok: true,
    pod: text(context, 4),
    method: text(assertions, 1),
    authority: text(assertions, 3),
    headers,
  };
}
