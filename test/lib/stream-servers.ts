// Real TCP and TLS servers for the TCPRoute / TLSRoute end-to-end tests, and the clients that talk
// to them through the ztunnel stand-in. Both servers speak first (a greeting naming the instance,
// as a database does): a waypoint that waited for the client's first bytes on their port would hang.
import { execFileSync } from "node:child_process";
import { readFileSync } from "node:fs";
import { connect, createServer, type Server, type Socket } from "node:net";
import { join } from "node:path";
import { createServer as createTlsServer, connect as tlsConnect } from "node:tls";
import { tempDir } from "@waymark/testing";

export interface StreamServer {
  name: string;
  port: number;
  stop(): Promise<void>;
}

function listen(server: Server, name: string): Promise<StreamServer> {
  const sockets = new Set<Socket>();
  server.on("connection", (s: Socket) => {
    sockets.add(s);
    s.on("close", () => sockets.delete(s));
  });
  return new Promise((resolve, reject) => {
    server.once("error", reject);
    server.listen(0, "127.0.0.1", () => {
      const address = server.address();
      const port = typeof address === "object" && address ? address.port : 0;
      resolve({
        name,
        port,
        stop: () =>
          new Promise<void>((done) => {
            for (const s of sockets) s.destroy();
            server.close(() => done());
          }),
      });
    });
  });
}

/** Greets with `hello <name>`, then echoes each line back as `<name>: <line>`. */
function serve(name: string, s: Socket | import("node:tls").TLSSocket): void {
  s.on("error", () => {});
  s.write(`hello ${name}\n`);
  let buffered = "";
  s.on("data", (c: Buffer) => {
    buffered += c.toString("utf8");
    for (let i = buffered.indexOf("\n"); i >= 0; i = buffered.indexOf("\n")) {
      s.write(`${name}: ${buffered.slice(0, i)}\n`);
      buffered = buffered.slice(i + 1);
    }
  });
}

export function startTcpEcho(name: string): Promise<StreamServer> {
  return listen(
    createServer((s) => serve(name, s)),
    name,
  );
}

export interface Certificate {
  key: string;
  cert: string;
}

/** A self-signed certificate for one DNS name, made by openssl. */
export function selfSigned(dnsName: string): Certificate {
  const dir = tempDir("cert");
  const key = join(dir, "key.pem");
  const cert = join(dir, "cert.pem");
  execFileSync(
    "openssl",
    [
      "req",
      "-x509",
      "-newkey",
      "ec",
      "-pkeyopt",
      "ec_paramgen_curve:prime256v1",
      "-nodes",
      "-days",
      "1",
      "-subj",
      `/CN=${dnsName}`,
      "-addext",
      `subjectAltName=DNS:${dnsName}`,
      "-keyout",
      key,
      "-out",
      cert,
    ],
    { stdio: "ignore" },
  );
  return { key: readFileSync(key, "utf8"), cert: readFileSync(cert, "utf8") };
}

/** A TLS server (its own certificate) that greets and echoes as startTcpEcho does, inside TLS. */
export function startTlsEcho(name: string, certificate: Certificate): Promise<StreamServer> {
  return listen(
    createTlsServer({ key: certificate.key, cert: certificate.cert }, (s) => serve(name, s)),
    name,
  );
}

export type StreamAnswer = { greeting: string; echo: string } | { closed: string };

/** Reads lines until `count` arrived, the connection closed, or 5 s passed. */
function readLines(
  s: Socket,
  count: number,
  onLines: (lines: string[]) => void,
  onClose: (why: string) => void,
) {
  let text = "";
  const timer = setTimeout(() => {
    s.destroy();
    onClose("no answer within 5 s");
  }, 5000);
  s.on("data", (c: Buffer) => {
    text += c.toString("utf8");
    const lines = text.split("\n");
    if (lines.length > count) {
      clearTimeout(timer);
      s.end();
      onLines(lines.slice(0, count));
    }
  });
  s.on("close", () => {
    clearTimeout(timer);
    onClose(`closed after ${JSON.stringify(text)}`);
  });
}

/**
 * A plain TCP conversation as a server-first protocol has it: wait for the greeting, then send
 * `ping` and read its echo.
 */
export function tcpConversation(port: number): Promise<StreamAnswer> {
  return new Promise((resolve) => {
    const s = connect(port, "127.0.0.1");
    s.on("error", (e) => resolve({ closed: e.message }));
    let pinged = false;
    s.on("data", (c: Buffer) => {
      if (!pinged && c.toString("utf8").includes("\n")) {
        pinged = true;
        s.write("ping\n");
      }
    });
    readLines(
      s,
      2,
      ([greeting = "", echo = ""]) => resolve({ greeting, echo }),
      (why) => resolve({ closed: why }),
    );
  });
}

export type TlsAnswer = { subject: string; greeting: string; echo: string } | { closed: string };

/**
 * A TLS conversation with SNI `servername` (the certificate is read, not verified: each server has
 * its own self-signed one, and which one answered is what the test checks).
 */
export function tlsConversation(port: number, servername: string): Promise<TlsAnswer> {
  return new Promise((resolve) => {
    const s = tlsConnect({ host: "127.0.0.1", port, servername, rejectUnauthorized: false });
    let subject = "";
    s.on("error", (e) => resolve({ closed: e.message }));
    s.once("secureConnect", () => {
      subject = String(s.getPeerCertificate().subject?.CN ?? "");
      s.write("ping\n");
    });
    readLines(
      s,
      2,
      ([greeting = "", echo = ""]) => resolve({ subject, greeting, echo }),
      (why) => resolve({ closed: why }),
    );
  });
}
