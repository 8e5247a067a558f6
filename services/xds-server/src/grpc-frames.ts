// Writing a WireMessage (wire.ts) to a gRPC stream without copying its shared body.
//
// grpc-js writes a message by calling the method's serializer, then copying the result into a new
// buffer behind the 5-byte gRPC header, then writing that one buffer to the HTTP/2 stream. For a body
// shared by 5,000 streams that is 5,000 allocations and copies of 50 KiB, for bytes that are the same
// everywhere but for the nonce. Here a WireMessage is written as two chunks instead: its small
// per-stream head (gRPC header and nonce field) and then the shared body, corked together so HTTP/2
// sends them as one DATA payload; node's HTTP/2 layer hands both buffers to the socket without copying.
//
// This replaces grpc-js's BaseServerInterceptingCall.sendMessage for WireMessage values only, doing what
// it does (cancelled check, size limit, response headers first, status INTERNAL on a write error, the
// channelz message counter, the callback once written); every other message takes grpc-js's own path.
// It relies on that class's members, so it checks them first: on another grpc-js shape it installs
// nothing, and the service's serializer writes WireMessage.bytes() through grpc-js's path (correct,
// but copied). The package pins grpc-js's version; grpc-frames.test.ts fails if the patch stops
// applying.
import { createRequire } from "node:module";
import { status as GrpcStatus, type ServiceDefinition } from "@grpc/grpc-js";
import { adsService } from "@waymark/envoy-proto";
import { WireMessage } from "./wire.ts";

interface BaseCall {
  stream: {
    cork(): void;
    uncork(): void;
    write(chunk: Uint8Array, cb?: (err?: Error | null) => void): boolean;
  };
  maxSendMessageSize: number;
  callEventTracker: { addMessageSent(): void } | null;
  checkCancelled(): boolean;
  maybeSendMetadata(): void;
  sendStatus(s: { code: number; details: string; metadata: null }): void;
}

type SendMessage = (this: BaseCall, message: unknown, callback: () => void) => void;

function install(): boolean {
  let proto: Record<string, unknown> | undefined;
  try {
    const mod = createRequire(import.meta.url)("@grpc/grpc-js/build/src/server-interceptors.js") as {
      BaseServerInterceptingCall?: { prototype: Record<string, unknown> };
    };
    proto = mod.BaseServerInterceptingCall?.prototype;
  } catch {
    return false;
  }
  if (!proto) return false;
  const needed = ["sendMessage", "checkCancelled", "maybeSendMetadata", "sendStatus", "serializeMessage"];
  if (!needed.every((m) => typeof proto[m] === "function")) return false;
  if (proto["waymarkWireMessage"] === true) return true;
  const original = proto["sendMessage"] as SendMessage;
  const sendMessage: SendMessage = function (this: BaseCall, message, callback) {
    if (!(message instanceof WireMessage)) {
      original.call(this, message, callback);
      return;
    }
    if (this.checkCancelled()) return;
    if (this.maxSendMessageSize !== -1 && message.byteLength > this.maxSendMessageSize) {
      this.sendStatus({
        code: GrpcStatus.RESOURCE_EXHAUSTED,
        details: `Sent message larger than max (${message.byteLength} vs. ${this.maxSendMessageSize})`,
        metadata: null,
      });
      return;
    }
    this.maybeSendMetadata();
    const stream = this.stream;
    stream.cork();
    stream.write(message.head);
    stream.write(message.shared, (err) => {
      if (err) {
        this.sendStatus({ code: GrpcStatus.INTERNAL, details: "Internal server error", metadata: null });
        return;
      }
      this.callEventTracker?.addMessageSent();
      callback();
    });
    stream.uncork();
  };
  proto["sendMessage"] = sendMessage;
  proto["waymarkWireMessage"] = true;
  return true;
}

/** True when WireMessages are written without copying (grpc-js had the expected shape). */
export const zeroCopyWrites = install();

function withWireMessages<M extends { responseSerialize(v: never): Buffer }>(m: M) {
  const serialize = m.responseSerialize as (v: unknown) => Buffer;
  return {
    ...m,
    // Reached only without the patch (or for a WireMessage grpc-js serializes itself): one copy.
    // A Buffer is written as-is, without the copy Buffer.from would make.
    responseSerialize: (v: unknown): Buffer =>
      v instanceof WireMessage ? v.bytes() : Buffer.isBuffer(v) ? v : serialize(v),
  };
}

/** The ADS service, whose streams write WireMessages (and, as before, messages or encoded Buffers). */
export const adsWireService = {
  StreamAggregatedResources: withWireMessages(adsService.StreamAggregatedResources),
  DeltaAggregatedResources: withWireMessages(adsService.DeltaAggregatedResources),
} as unknown as ServiceDefinition;
