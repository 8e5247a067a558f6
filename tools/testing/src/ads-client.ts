// A small ADS test client (SotW and delta) over @grpc/grpc-js, for the xds-server tests and the
// end-to-end suites. Each stream queues the responses it receives; tests take them in order with
// next() or assert that none comes with none().
import * as grpc from "@grpc/grpc-js";
import {
  adsService,
  create,
  type DeltaDiscoveryRequest,
  DeltaDiscoveryRequestSchema,
  type DeltaDiscoveryResponse,
  type DiscoveryRequest,
  DiscoveryRequestSchema,
  type DiscoveryResponse,
  decodeResource,
  type JsonObject,
} from "@waymark/envoy-proto";

const AdsClientCtor = grpc.makeGenericClientConstructor(adsService, "AggregatedDiscoveryService");

export interface NodeInit {
  id: string;
  /** `<gateway>.<namespace>` */
  cluster: string;
}

/** One received response, with the resources decoded to JSON for convenience. */
export interface Received<R> {
  response: R;
  receivedAt: number;
}

class ResponseQueue<R> {
  readonly #items: Received<R>[] = [];
  #waiters: Array<() => void> = [];
  #ended: Error | undefined;
  readonly all: Received<R>[] = [];

  push(r: R): void {
    const item = { response: r, receivedAt: Date.now() };
    this.#items.push(item);
    this.all.push(item);
    this.#wake();
  }

  end(err: Error): void {
    this.#ended ??= err;
    this.#wake();
  }

  #wake(): void {
    const w = this.#waiters;
    this.#waiters = [];
    for (const f of w) f();
  }

  get pending(): number {
    return this.#items.length;
  }

  async next(timeoutMs: number, what: string): Promise<R> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const item = this.#items.shift();
      if (item) return item.response;
      if (this.#ended) throw new Error(`stream ended while waiting for ${what}: ${this.#ended.message}`);
      const left = deadline - Date.now();
      if (left <= 0) throw new Error(`no response within ${timeoutMs} ms waiting for ${what}`);
      await new Promise<void>((resolve) => {
        const t = setTimeout(resolve, left);
        this.#waiters.push(() => {
          clearTimeout(t);
          resolve();
        });
      });
    }
  }

  async none(ms: number): Promise<R | undefined> {
    await new Promise((r) => setTimeout(r, ms));
    return this.#items.shift()?.response;
  }
}

abstract class StreamClient<Req, Res> {
  protected readonly call: grpc.ClientDuplexStream<Req, Res>;
  protected readonly queue = new ResponseQueue<Res>();
  /** Resolves with the stream's final status. */
  readonly status: Promise<grpc.StatusObject>;

  protected constructor(call: grpc.ClientDuplexStream<Req, Res>) {
    this.call = call;
    call.on("data", (r: Res) => this.queue.push(r));
    call.on("error", (e: Error) => this.queue.end(e));
    call.on("end", () => this.queue.end(new Error("server ended the stream")));
    this.status = new Promise((resolve) => call.on("status", resolve));
  }

  /** Every response received so far, in order (including those already taken). */
  get received(): readonly Received<Res>[] {
    return this.queue.all;
  }

  /** The next response not yet taken; throws after timeoutMs. */
  next(timeoutMs = 5_000, what = "a response"): Promise<Res> {
    return this.queue.next(timeoutMs, what);
  }

  /** Waits ms and returns the response that arrived meanwhile, if any (expect undefined). */
  none(ms = 300): Promise<Res | undefined> {
    return this.queue.none(ms);
  }

  /** Half-closes and cancels the stream. */
  close(): void {
    this.call.end();
    this.call.cancel();
  }
}

export interface SotwRequestInit {
  typeUrl: string;
  resourceNames?: string[];
  versionInfo?: string;
  responseNonce?: string;
  node?: NodeInit;
  /** A NACK's error message (sets error_detail). */
  error?: string;
}

export class SotwStream extends StreamClient<DiscoveryRequest, DiscoveryResponse> {
  constructor(call: grpc.ClientDuplexStream<DiscoveryRequest, DiscoveryResponse>) {
    super(call);
  }

  send(r: SotwRequestInit): void {
    this.call.write(
      create(DiscoveryRequestSchema, {
        typeUrl: r.typeUrl,
        resourceNames: r.resourceNames ?? [],
        versionInfo: r.versionInfo ?? "",
        responseNonce: r.responseNonce ?? "",
        ...(r.node ? { node: r.node } : {}),
        ...(r.error !== undefined ? { errorDetail: { code: 3, message: r.error } } : {}),
      }),
    );
  }

  /** ACKs a response (echoes its version and nonce, same names). */
  ack(res: DiscoveryResponse, resourceNames: string[] = []): void {
    this.send({
      typeUrl: res.typeUrl,
      versionInfo: res.versionInfo,
      responseNonce: res.nonce,
      resourceNames,
    });
  }

  /** NACKs a response, echoing the last version accepted. */
  nack(res: DiscoveryResponse, message: string, lastGoodVersion: string, resourceNames: string[] = []): void {
    this.send({
      typeUrl: res.typeUrl,
      versionInfo: lastGoodVersion,
      responseNonce: res.nonce,
      resourceNames,
      error: message,
    });
  }
}

export interface DeltaRequestInit {
  typeUrl: string;
  subscribe?: string[];
  unsubscribe?: string[];
  initialVersions?: Record<string, string>;
  responseNonce?: string;
  node?: NodeInit;
  error?: string;
}

export class DeltaStream extends StreamClient<DeltaDiscoveryRequest, DeltaDiscoveryResponse> {
  constructor(call: grpc.ClientDuplexStream<DeltaDiscoveryRequest, DeltaDiscoveryResponse>) {
    super(call);
  }

  send(r: DeltaRequestInit): void {
    this.call.write(
      create(DeltaDiscoveryRequestSchema, {
        typeUrl: r.typeUrl,
        resourceNamesSubscribe: r.subscribe ?? [],
        resourceNamesUnsubscribe: r.unsubscribe ?? [],
        initialResourceVersions: r.initialVersions ?? {},
        responseNonce: r.responseNonce ?? "",
        ...(r.node ? { node: r.node } : {}),
        ...(r.error !== undefined ? { errorDetail: { code: 3, message: r.error } } : {}),
      }),
    );
  }

  ack(res: DeltaDiscoveryResponse): void {
    this.send({ typeUrl: res.typeUrl, responseNonce: res.nonce });
  }

  nack(res: DeltaDiscoveryResponse, message: string): void {
    this.send({ typeUrl: res.typeUrl, responseNonce: res.nonce, error: message });
  }
}

/** What a stream sends when it opens. */
export interface StreamInit {
  /** Sent as `authorization: Bearer <token>` (as a waypoint Envoy's credential injector does). */
  token?: string;
  /** Any other metadata. */
  metadata?: Record<string, string>;
}

function metadataOf(o: StreamInit): grpc.Metadata {
  const md = new grpc.Metadata();
  for (const [k, v] of Object.entries(o.metadata ?? {})) md.set(k, v);
  if (o.token !== undefined) md.set("authorization", `Bearer ${o.token}`);
  return md;
}

/** A client channel to one ADS server; open as many streams on it as needed. */
export class AdsClient {
  readonly #client: grpc.Client & Record<string, (...a: unknown[]) => unknown>;

  constructor(target: string) {
    this.#client = new AdsClientCtor(target, grpc.credentials.createInsecure(), {
      "grpc.max_receive_message_length": 64 * 1024 * 1024,
    }) as unknown as grpc.Client & Record<string, (...a: unknown[]) => unknown>;
  }

  sotw(o: StreamInit = {}): SotwStream {
    return new SotwStream(
      this.#client["StreamAggregatedResources"]!(metadataOf(o)) as grpc.ClientDuplexStream<
        DiscoveryRequest,
        DiscoveryResponse
      >,
    );
  }

  delta(o: StreamInit = {}): DeltaStream {
    return new DeltaStream(
      this.#client["DeltaAggregatedResources"]!(metadataOf(o)) as grpc.ClientDuplexStream<
        DeltaDiscoveryRequest,
        DeltaDiscoveryResponse
      >,
    );
  }

  close(): void {
    this.#client.close();
  }
}

/** The name of a decoded resource (ClusterLoadAssignment uses clusterName). */
function nameOf(json: JsonObject): string {
  return String(json["name"] ?? json["clusterName"] ?? "");
}

/** The resources of a SotW response, decoded, by name (in response order). */
export function sotwResources(res: DiscoveryResponse): Map<string, JsonObject> {
  const out = new Map<string, JsonObject>();
  for (const any of res.resources) {
    const json = decodeResource(any.typeUrl, any.value) as JsonObject;
    out.set(nameOf(json), json);
  }
  return out;
}

/** The resources of a delta response: name → {version, json}. */
export function deltaResources(
  res: DeltaDiscoveryResponse,
): Map<string, { version: string; json: JsonObject }> {
  const out = new Map<string, { version: string; json: JsonObject }>();
  for (const r of res.resources) {
    const any = r.resource;
    const json = any ? (decodeResource(any.typeUrl, any.value) as JsonObject) : {};
    out.set(r.name, { version: r.version, json });
  }
  return out;
}
