// A pod's address served by a local program: a TCP forwarder from <pod IP>:<container port> (on the
// pod network's loopback, scripts/pod-network.sh) to the local port of the echo process playing it.
import { connect, createServer, type Server, type Socket } from "node:net";

export interface Forwarder {
  stop(): Promise<void>;
}

export async function forward(listen: { host: string; port: number }, to: number): Promise<Forwarder> {
  const sockets = new Set<Socket>();
  const server: Server = createServer((client) => {
    const upstream = connect(to, "127.0.0.1");
    for (const s of [client, upstream]) {
      sockets.add(s);
      s.once("close", () => sockets.delete(s));
      s.on("error", () => {
        client.destroy();
        upstream.destroy();
      });
    }
    client.pipe(upstream);
    upstream.pipe(client);
  });
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(listen.port, listen.host, () => resolve());
  });
  return {
    stop: () =>
      new Promise<void>((resolve) => {
        for (const s of sockets) s.destroy();
        server.close(() => resolve());
      }),
  };
}
