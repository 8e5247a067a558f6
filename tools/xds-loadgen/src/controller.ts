// The load generator's controller: forks worker processes, spreads simulated proxies over them
// (round robin), and gathers their timings, bytes and counts.
import { type ChildProcess, fork } from "node:child_process";
import { fileURLToPath } from "node:url";
import { WaymarkError } from "@waymark/api";
import type { AwaitResult, Command, ConnectResult, Reply, WorkerStats } from "./protocol.ts";
import { addCounters, type ProxySpec, type TypeCounters, type XdsProtocol } from "./proxy.ts";

const WORKER = fileURLToPath(new URL("./worker.ts", import.meta.url));

export class LoadGenError extends WaymarkError {
  constructor(message: string) {
    super("loadgen", message);
    this.name = "LoadGenError";
  }
}

class Worker {
  readonly child: ChildProcess;
  readonly #pending = new Map<number, { resolve: (v: unknown) => void; reject: (e: Error) => void }>();
  #seq = 0;
  #exited: Error | undefined;

  constructor() {
    this.child = fork(WORKER, [], {
      execArgv: ["--disable-warning=ExperimentalWarning", "--max-old-space-size=4096"],
      stdio: ["ignore", "inherit", "inherit", "ipc"],
    });
    this.child.on("message", (m: Reply) => {
      const p = this.#pending.get(m.seq);
      if (!p) return;
      this.#pending.delete(m.seq);
      if (m.ok) p.resolve(m.result);
      else p.reject(new LoadGenError(`worker ${this.child.pid}: ${m.error}`));
    });
    this.child.on("exit", (code, signal) => {
      this.#exited = new LoadGenError(`worker ${this.child.pid} exited (${code ?? signal})`);
      for (const p of this.#pending.values()) p.reject(this.#exited);
      this.#pending.clear();
    });
  }

  call<T>(c: Command): Promise<T> {
    if (this.#exited) return Promise.reject(this.#exited);
    const seq = ++this.#seq;
    return new Promise<T>((resolve, reject) => {
      this.#pending.set(seq, { resolve: resolve as (v: unknown) => void, reject });
      this.child.send({ ...c, seq });
    });
  }
}

/** Proxy specs for `count` proxies of one waypoint; the first `nackers` reject every update. */
export function proxySpecs(
  count: number,
  cluster: string,
  protocol: XdsProtocol,
  opts: { nackers?: number; prefix?: string } = {},
): ProxySpec[] {
  return Array.from({ length: count }, (_, i) => ({
    id: `${opts.prefix ?? "sim"}-${i}`,
    cluster,
    protocol,
    ...(i < (opts.nackers ?? 0) ? { nack: true } : {}),
  }));
}

export interface AggregateStats {
  proxies: number;
  connected: number;
  synced: number;
  reconnects: number;
  responses: number;
  bytes: number;
  acks: number;
  nacks: number;
  types: Record<string, TypeCounters>;
  workers: WorkerStats[];
}

export class LoadGen {
  readonly #workers: Worker[];

  private constructor(workers: Worker[]) {
    this.#workers = workers;
  }

  /** Forks `workers` worker processes. */
  static async start(workers: number): Promise<LoadGen> {
    const list = Array.from({ length: Math.max(1, workers) }, () => new Worker());
    const lg = new LoadGen(list);
    await Promise.all(list.map((w) => w.call({ op: "stats" })));
    return lg;
  }

  get pids(): number[] {
    return this.#workers.map((w) => w.child.pid!);
  }

  /** Connects the proxies (spread over the workers) and waits until they all synced. */
  async connect(target: string, proxies: ProxySpec[], timeoutMs = 60_000): Promise<ConnectResult> {
    const shares = this.#workers.map((): ProxySpec[] => []);
    for (const [i, p] of proxies.entries()) shares[i % shares.length]!.push(p);
    const rs = await Promise.all(
      this.#workers.map((w, i) =>
        w.call<ConnectResult>({ op: "connect", target, proxies: shares[i]!, timeoutMs }),
      ),
    );
    return {
      synced: rs.reduce((n, r) => n + r.synced, 0),
      lastSyncedAt: Math.max(...rs.map((r) => r.lastSyncedAt)),
    };
  }

  /** Waits until every proxy ACKed (or, if told to, NACKed) this version of a type. */
  /** Waits until every proxy (or every proxy of node.cluster `cluster`) ACKs or NACKs `version`. */
  async awaitVersion(
    typeUrl: string,
    version: string,
    timeoutMs = 60_000,
    cluster?: string,
  ): Promise<AwaitResult> {
    const rs = await Promise.all(
      this.#workers.map((w) =>
        w.call<AwaitResult>({
          op: "await",
          typeUrl,
          version,
          timeoutMs,
          ...(cluster === undefined ? {} : { cluster }),
        }),
      ),
    );
    return {
      acks: rs.flatMap((r) => r.acks),
      nacks: rs.reduce((n, r) => n + r.nacks, 0),
      missing: rs.flatMap((r) => r.missing),
    };
  }

  /** Drops every stream and opens it again to `target`, all at once. */
  async reconnect(target: string): Promise<void> {
    await Promise.all(this.#workers.map((w) => w.call({ op: "reconnect", target })));
  }

  async disconnect(): Promise<void> {
    await Promise.all(this.#workers.map((w) => w.call({ op: "disconnect" })));
  }

  async stats(): Promise<AggregateStats> {
    const workers = await Promise.all(this.#workers.map((w) => w.call<WorkerStats>({ op: "stats" })));
    const types: Record<string, TypeCounters> = {};
    for (const w of workers) {
      for (const [t, c] of Object.entries(w.types)) {
        addCounters(types, t, c);
      }
    }
    const sum = (f: (c: TypeCounters) => number) => Object.values(types).reduce((n, c) => n + f(c), 0);
    return {
      proxies: workers.reduce((n, w) => n + w.proxies, 0),
      connected: workers.reduce((n, w) => n + w.connected, 0),
      synced: workers.reduce((n, w) => n + w.synced, 0),
      reconnects: workers.reduce((n, w) => n + w.reconnects, 0),
      responses: sum((c) => c.responses),
      bytes: sum((c) => c.bytes),
      acks: sum((c) => c.acks),
      nacks: sum((c) => c.nacks),
      types,
      workers,
    };
  }

  async stop(): Promise<void> {
    await Promise.all(
      this.#workers.map(async (w) => {
        if (w.child.exitCode !== null) return;
        const exited = new Promise((r) => w.child.once("exit", r));
        await w.call({ op: "stop" }).catch(() => {});
        const t = setTimeout(() => w.child.kill("SIGKILL"), 3_000);
        await exited;
        clearTimeout(t);
      }),
    );
  }
}
