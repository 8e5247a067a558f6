// Command-line arguments of the stand-in. Pure.
import { isIP } from "node:net";
import { UsageError } from "./errors.ts";
import type { StandinOptions, StandinRoute } from "./index.ts";

export const USAGE = `usage: ztunnel-standin --waypoint <host:port> --identity <spiffe-id> --route <listen-host:port>=<vip:port> [--route ...]

  --waypoint   the waypoint Envoy's PROXY listener, e.g. 127.0.0.1:15088
  --identity   the client's SPIFFE id, sent in TLV 0xD0, e.g. spiffe://cluster.local/ns/httpbin/sa/client
  --route      accept plain TCP on listen-host:port (port 0: any) and present it to the waypoint as a
               connection to vip:port; repeatable. IPv6 addresses in brackets: [::1]:15001=[fd00::1]:8000`;

function hostPort(flag: string, text: string): { host: string; port: number } {
  const m = /^\[([^\]]+)\]:(\d+)$/.exec(text) ?? /^([^:[\]]+):(\d+)$/.exec(text);
  const host = m?.[1];
  const port = Number(m?.[2]);
  if (!host || !Number.isInteger(port) || port < 0 || port > 65535) {
    throw new UsageError(`${flag}: "${text}" is not host:port (IPv6 as [addr]:port)`);
  }
  return { host, port };
}

export function parseArgs(argv: readonly string[]): Omit<StandinOptions, "log"> {
  let waypoint: { host: string; port: number } | undefined;
  let identity: string | undefined;
  const routes: StandinRoute[] = [];
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i] ?? "";
    const eq = arg.startsWith("--") ? arg.indexOf("=") : -1;
    const flag = eq > 0 ? arg.slice(0, eq) : arg;
    const value = (): string => {
      if (eq > 0) return arg.slice(eq + 1);
      const v = argv[++i];
      if (v === undefined || v.startsWith("--")) throw new UsageError(`${flag} needs a value`);
      return v;
    };
    switch (flag) {
      case "--waypoint":
        waypoint = hostPort(flag, value());
        break;
      case "--identity": {
        const v = value();
        if (!/^spiffe:\/\/[^/\s]+\/\S+$/.test(v))
          throw new UsageError(`--identity: "${v}" is not a SPIFFE id (spiffe://<trust-domain>/<path>)`);
        identity = v;
        break;
      }
      case "--route": {
        const v = value();
        const sep = v.indexOf("=");
        if (sep < 0) throw new UsageError(`--route: "${v}" is not <listen-host:port>=<vip:port>`);
        const listen = hostPort(flag, v.slice(0, sep));
        const dest = hostPort(flag, v.slice(sep + 1));
        if (!isIP(dest.host))
          throw new UsageError(`--route: destination "${dest.host}" must be an IP address (the service VIP)`);
        routes.push({ listen, destination: { address: dest.host, port: dest.port } });
        break;
      }
      default:
        throw new UsageError(`unknown argument "${arg}"`);
    }
  }
  if (!waypoint) throw new UsageError("--waypoint is required");
  if (!identity) throw new UsageError("--identity is required");
  if (routes.length === 0) throw new UsageError("at least one --route is required");
  return { waypoint, identity, routes };
}
