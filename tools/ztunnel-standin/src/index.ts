// A stand-in for ztunnel's inbound hand-off to a waypoint: accepts plain TCP on each route's listen
// address and forwards it to the waypoint Envoy prefixed with a PROXY v2 header carrying the original
// destination (the service VIP and port) and the peer identity (TLV 0xD0), as ztunnel does.
import { connect, createServer, type Server, type Socket } from "node:net";
import { createLogger, type Logger } from "@waymark/api";
import { type Endpoint, encodeProxyV2, TLV_PEER_IDENTITY } from "./proxy-v2.ts";

export { ProxyHeaderError, UsageError } from "./errors.ts";
export {
  type Endpoint,
  encodeProxyV2,
  PROXY_V2_SIGNATURE,
  type ProxyV2Header,
  TLV_PEER_IDENTITY,
  type Tlv,
} from "./proxy-v2.ts";

export interface HostPort {
  host: string;
  port: number;
}

export interface StandinRoute {
  /** Where clients connect (port 0: any free port). */
  listen: HostPort;
  /** The original destination put in the header: the service VIP and port. */
  destination: Endpoint;
}

export interface StandinOptions {
  waypoint: HostPort;
  routes: readonly StandinRoute[];
  /** SPIFFE id of the client, e.g. spiffe://cluster.local/ns/httpbin/sa/client. */
  identity: string;
  log?: Logger;
}

export interface Standin {
  /** The listening port of each route, in route order. */
  ports: number[];
  /** Stops listening and closes open connections. */
  stop(): Promise<void>;
}

export async function startStandin(opts: StandinOptions): Promise<Standin> {
  const log = opts.log ?? createLogger("ztunnel-standin");
  const sockets = new Set<Socket>();
  const servers: Server[] = [];
  const track = (s: Socket) => {
    sockets.add(s);
    s.once("close", () => sockets.delete(s));
  };

  const handle = (client: Socket, route: StandinRoute) => {
    track(client);
    const source = { address: client.remoteAddress ?? "0.0.0.0", port: client.remotePort ?? 0 };
    let header: Buffer;
    try {
      header = encodeProxyV2({
        source,
        destination: route.destination,
        tlvs: [{ type: TLV_PEER_IDENTITY, value: opts.identity }],
      });
    } catch (err) {
      log.error("cannot build the PROXY header", { err, source });
      client.destroy();
      return;
    }
    client.pause();
    const upstream = connect({ host: opts.waypoint.host, port: opts.waypoint.port, allowHalfOpen: true });
    track(upstream);
    const conn = {
      source: `${source.address}:${source.port}`,
      destination: `${route.destination.address}:${route.destination.port}`,
    };
    const fail = (side: string) => (err: Error) => {
      log.warn("connection failed", { ...conn, side, err });
      client.destroy();
      upstream.destroy();
    };
    client.on("error", fail("client"));
    upstream.on("error", fail("waypoint"));
    // Each direction ends on its own (half-close); a socket that closes on an error takes the other along.
    client.on("close", (hadError) => hadError && upstream.destroy());
    upstream.on("close", (hadError) => hadError && client.destroy());
    upstream.once("connect", () => {
      log.debug("forwarding", conn);
      upstream.write(header);
      client.pipe(upstream);
      upstream.pipe(client);
      client.resume();
    });
  };

  try {
    for (const route of opts.routes) {
      const server = createServer({ allowHalfOpen: true }, (c) => handle(c, route));
      servers.push(server);
      await new Promise<void>((resolve, reject) => {
        server.once("error", reject);
        server.listen(route.listen.port, route.listen.host, () => {
          server.off("error", reject);
          resolve();
        });
      });
      server.on("error", (err) => log.error("listener failed", { err, listen: route.listen }));
    }
  } catch (err) {
    for (const s of servers) s.close();
    throw err;
  }

  const ports = servers.map((s) => {
    const a = s.address();
    return a && typeof a === "object" ? a.port : 0;
  });
  opts.routes.forEach((r, i) => {
    log.info("listening", {
      listen: `${r.listen.host}:${ports[i]}`,
      destination: `${r.destination.address}:${r.destination.port}`,
      waypoint: `${opts.waypoint.host}:${opts.waypoint.port}`,
    });
  });

  return {
    ports,
    async stop() {
      // close() stops accepting and waits for open connections, which are ended right after.
      const closed = servers.map((s) => new Promise<void>((resolve) => s.close(() => resolve())));
      for (const s of sockets) s.destroy();
      await Promise.all(closed);
    },
  };
}
