// A small gRPC external processing server (Envoy's envoy.service.ext_proc.v3.ExternalProcessor) for
// the e2e tests, run as a real process of its own so a test can kill it mid-run and start it again on
// the same port. What it does to what Envoy sends it:
//   - request headers: adds `x-ext-proc: waymark` (the backend sees it) and `x-ext-proc-phases`, the
//     phases this stream has seen so far;
//   - response headers: adds `x-ext-proc-response: seen` (the client sees it);
//   - response body (only sent when the processing mode buffers it): replaces it with its upper-case
//     form, so a client can tell the body went through the server;
//   - request body and trailers: passed on unchanged.
// No other project's ext_proc server could be used as a binary (see the e2e test's header).
//
// As a library: startExtProcServer() spawns `node ext-proc-server.ts <port>` and waits until it serves.
import { once } from "node:events";
import { connect } from "node:net";
import * as grpc from "@grpc/grpc-js";
import {
  create,
  fromBinary,
  type ProcessingRequest,
  ProcessingRequestSchema,
  type ProcessingResponse,
  ProcessingResponseSchema,
  toBinary,
} from "@waymark/envoy-proto";
import { freePort, type Proc, startProcess, waitFor } from "@waymark/testing";

const PROCESS = "/envoy.service.ext_proc.v3.ExternalProcessor/Process";

const service: grpc.ServiceDefinition = {
  Process: {
    path: PROCESS,
    requestStream: true,
    responseStream: true,
    requestSerialize: (m: ProcessingRequest) => Buffer.from(toBinary(ProcessingRequestSchema, m)),
    requestDeserialize: (b: Buffer) => fromBinary(ProcessingRequestSchema, b),
    responseSerialize: (m: ProcessingResponse) => Buffer.from(toBinary(ProcessingResponseSchema, m)),
    responseDeserialize: (b: Buffer) => fromBinary(ProcessingResponseSchema, b),
  },
};

const header = (key: string, value: string) => ({
  append: false,
  header: { key, rawValue: new TextEncoder().encode(value) },
});

function answer(req: ProcessingRequest, phases: string[]): ProcessingResponse {
  const r = req.request;
  if (r.case) phases.push(r.case);
  switch (r.case) {
    case "requestHeaders":
      return create(ProcessingResponseSchema, {
        response: {
          case: "requestHeaders",
          value: {
            response: {
              headerMutation: {
                setHeaders: [header("x-ext-proc", "waymark"), header("x-ext-proc-phases", phases.join(","))],
              },
            },
          },
        },
      });
    case "responseHeaders":
      return create(ProcessingResponseSchema, {
        response: {
          case: "responseHeaders",
          value: { response: { headerMutation: { setHeaders: [header("x-ext-proc-response", "seen")] } } },
        },
      });
    case "responseBody": {
      const text = new TextDecoder().decode(r.value.body).toUpperCase();
      return create(ProcessingResponseSchema, {
        response: {
          case: "responseBody",
          value: {
            response: { bodyMutation: { mutation: { case: "body", value: new TextEncoder().encode(text) } } },
          },
        },
      });
    }
    case "requestBody":
      return create(ProcessingResponseSchema, { response: { case: "requestBody", value: {} } });
    case "requestTrailers":
      return create(ProcessingResponseSchema, { response: { case: "requestTrailers", value: {} } });
    case "responseTrailers":
      return create(ProcessingResponseSchema, { response: { case: "responseTrailers", value: {} } });
    default:
      return create(ProcessingResponseSchema, {});
  }
}

/** Serves on 127.0.0.1:port until the process ends. */
export async function serve(port: number): Promise<grpc.Server> {
  const server = new grpc.Server();
  server.addService(service, {
    Process: (call: grpc.ServerDuplexStream<ProcessingRequest, ProcessingResponse>) => {
      const phases: string[] = [];
      call.on("data", (req: ProcessingRequest) => call.write(answer(req, phases)));
      call.on("end", () => call.end());
      call.on("error", () => {});
    },
  });
  await new Promise<void>((resolve, reject) =>
    server.bindAsync(`127.0.0.1:${port}`, grpc.ServerCredentials.createInsecure(), (err) =>
      err ? reject(err) : resolve(),
    ),
  );
  return server;
}

export interface ExtProcServer {
  port: number;
  proc: Proc;
  /** Kills the server (SIGKILL: no goodbye to Envoy's streams). */
  kill(): Promise<void>;
  /** Starts it again on the same port. */
  restart(): Promise<void>;
  stop(): Promise<void>;
}

async function listening(port: number): Promise<boolean> {
  const s = connect(port, "127.0.0.1");
  try {
    await once(s, "connect");
    return true;
  } catch {
    return false;
  } finally {
    s.destroy();
  }
}

/** The server as a child process on a free loopback port, its log in logDir. */
export async function startExtProcServer(opts: { logDir: string; port?: number }): Promise<ExtProcServer> {
  const port = opts.port ?? (await freePort());
  const spawnOne = async () => {
    const proc = startProcess({
      name: "ext-proc-server",
      command: process.execPath,
      args: [import.meta.filename, String(port)],
      logDir: opts.logDir,
    });
    await waitFor(`the ext_proc server on 127.0.0.1:${port}`, () => listening(port));
    return proc;
  };
  const s: ExtProcServer = {
    port,
    proc: await spawnOne(),
    kill: () => s.proc.kill(),
    async restart() {
      s.proc = await spawnOne();
    },
    stop: () => s.proc.stop(),
  };
  return s;
}

if (import.meta.main) {
  const port = Number(process.argv[2]);
  if (!Number.isInteger(port) || port < 1) throw new Error("usage: ext-proc-server.ts <port>");
  await serve(port);
  console.log(`ext_proc server on 127.0.0.1:${port}`);
}
