// Which processes listen on the ports a stack is about to bind. A bind test alone does not tell: the
// waypoint Envoy binds its listener with SO_REUSEPORT, so a second Envoy (of an earlier demo that was
// never stopped) binds the same port without an error and answers part of the requests. So the
// kernel's socket tables are read instead: /proc/net/tcp and tcp6 list every listening socket with
// its inode, and /proc/<pid>/fd links name the socket inodes each process holds. Read by hand rather
// than with a library or `ss -p`: two small text tables in the kernel's documented format
// (Documentation/networking/proc_net_tcp.rst), and no dependency or extra program to install.
import { readdirSync, readFileSync, readlinkSync } from "node:fs";

export interface Listener {
  /** The local address as the kernel reports it: dotted IPv4, or IPv6 in full hex groups. */
  address: string;
  port: number;
  inode: string;
  uid: number;
}

export interface PortHolder extends Listener {
  /** The wanted address this listener is in the way of. */
  wanted: { host: string; port: number };
  /** Every process holding the socket (several after a fork); empty when it cannot be seen. */
  processes: Array<{ pid: number; command: string }>;
}

const TCP_LISTEN = "0A";

function ipv4(hex: string): string {
  // Four bytes in the kernel's (little-endian on x86 and arm64) word order.
  const n = Number.parseInt(hex, 16);
  return [n & 0xff, (n >>> 8) & 0xff, (n >>> 16) & 0xff, (n >>> 24) & 0xff].join(".");
}

function ipv6(hex: string): string {
  // Four 32-bit words, each in host byte order.
  const words = hex.match(/.{8}/g) ?? [];
  const bytes = words.flatMap((w) => (w.match(/../g) ?? []).reverse());
  const groups: string[] = [];
  for (let i = 0; i < 16; i += 2) groups.push(`${bytes[i]}${bytes[i + 1]}`.toLowerCase());
  const mapped = groups.slice(0, 5).every((g) => g === "0000") && groups[5] === "ffff";
  if (mapped) return ipv4(`${bytes[15]}${bytes[14]}${bytes[13]}${bytes[12]}`);
  return groups.map((g) => g.replace(/^0{1,3}/, "")).join(":");
}

/** The listening TCP sockets of this network namespace, from /proc/net/tcp and /proc/net/tcp6. */
export function tcpListeners(): Listener[] {
  const out: Listener[] = [];
  for (const [file, decode] of [
    ["/proc/net/tcp", ipv4],
    ["/proc/net/tcp6", ipv6],
  ] as const) {
    let text: string;
    try {
      text = readFileSync(file, "utf8");
    } catch {
      continue; // no IPv6 in this kernel
    }
    for (const line of text.split("\n").slice(1)) {
      const f = line.trim().split(/\s+/);
      if (f.length < 10 || f[3] !== TCP_LISTEN) continue;
      const [addr, port] = f[1]!.split(":");
      out.push({ address: decode(addr!), port: Number.parseInt(port!, 16), inode: f[9]!, uid: Number(f[7]) });
    }
  }
  return out;
}

const WILDCARD = new Set(["0.0.0.0", "0:0:0:0:0:0:0:0", "::"]);

/** True when a listener on `address` takes `host`'s port away: the same address, or a wildcard. */
function overlaps(address: string, host: string): boolean {
  return address === host || WILDCARD.has(address) || WILDCARD.has(host);
}

/** The pids (and command lines) holding each of `inodes`, from the fd links of every process we may read. */
export function socketOwners(inodes: Set<string>): Map<string, Array<{ pid: number; command: string }>> {
  const owners = new Map<string, Array<{ pid: number; command: string }>>();
  for (const pid of readdirSync("/proc").filter((d) => /^\d+$/.test(d))) {
    let fds: string[];
    try {
      fds = readdirSync(`/proc/${pid}/fd`);
    } catch {
      continue; // another user's process, or gone
    }
    for (const fd of fds) {
      let link: string;
      try {
        link = readlinkSync(`/proc/${pid}/fd/${fd}`);
      } catch {
        continue;
      }
      const inode = /^socket:\[(\d+)\]$/.exec(link)?.[1];
      if (!inode || !inodes.has(inode)) continue;
      let command = "";
      try {
        command = readFileSync(`/proc/${pid}/cmdline`, "utf8").split("\0").filter(Boolean).join(" ");
      } catch {}
      const list = owners.get(inode) ?? [];
      if (!list.some((p) => p.pid === Number(pid))) list.push({ pid: Number(pid), command });
      owners.set(inode, list);
    }
  }
  return owners;
}

/** The listeners in the way of binding each of `wanted`, with the processes that hold them. */
export function portHolders(wanted: Array<{ host: string; port: number }>): PortHolder[] {
  const listeners = tcpListeners();
  const hits: Array<Listener & { wanted: { host: string; port: number } }> = [];
  for (const w of wanted) {
    for (const l of listeners)
      if (l.port === w.port && overlaps(l.address, w.host)) hits.push({ ...l, wanted: w });
  }
  if (hits.length === 0) return [];
  const owners = socketOwners(new Set(hits.map((h) => h.inode)));
  return hits.map((h) => ({ ...h, processes: owners.get(h.inode) ?? [] }));
}

export class PortInUseError extends Error {
  readonly holders: PortHolder[];
  constructor(holders: PortHolder[]) {
    const lines = holders.map((h) => {
      const who =
        h.processes.length > 0
          ? h.processes
              .map((p) => `pid ${p.pid} (${p.command.slice(0, 200) || "no command line"})`)
              .join(", ")
          : `a process this user cannot see (uid ${h.uid}, socket inode ${h.inode})`;
      return `  port ${h.wanted.port}: ${h.address}:${h.port} is held by ${who}`;
    });
    super(
      `cannot start: ${holders.length === 1 ? "a port it needs is" : "ports it needs are"} already taken\n` +
        `${lines.join("\n")}\nStop that process first (an earlier demo or test stack that was not stopped?).`,
    );
    this.name = "PortInUseError";
    this.holders = holders;
  }
}

/** Throws PortInUseError, naming every holder, when any of `wanted` is already listened on. */
export function assertPortsFree(wanted: Array<{ host: string; port: number }>): void {
  const holders = portHolders(wanted);
  if (holders.length > 0) throw new PortInUseError(holders);
}
