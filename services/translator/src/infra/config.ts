// Settings of the waypoint deployments, from environment variables: where waypoint Envoys find the
// xds-server, which Envoy image they run, and the audience of the token they present.
import { ConfigError } from "@waymark/api";
import { DEFAULT_INFRA_SETTINGS, type InfraSettings } from "./objects.ts";

type Env = Readonly<Record<string, string | undefined>>;

const HOST = /^(\[[0-9a-fA-F:.]+\]|[A-Za-z0-9]([-A-Za-z0-9.]*[A-Za-z0-9.])?)$/;
const AUDIENCE = /^[^\s]+$/;

/** WAYMARK_XDS_SERVICE (`host:port`), WAYMARK_PROXY_IMAGE, WAYMARK_XDS_TOKEN_AUDIENCE. */
export function loadInfraSettings(env: Env = process.env): Readonly<InfraSettings> {
  const d = DEFAULT_INFRA_SETTINGS;
  let xds = d.xds;
  const rawXds = env["WAYMARK_XDS_SERVICE"]?.trim();
  if (rawXds) {
    const i = rawXds.lastIndexOf(":");
    const host = i > 0 ? rawXds.slice(0, i) : "";
    const port = Number(rawXds.slice(i + 1));
    if (!HOST.test(host) || !Number.isInteger(port) || port < 1 || port > 65535) {
      throw new ConfigError(
        `WAYMARK_XDS_SERVICE=${JSON.stringify(rawXds)}: expected host:port, e.g. waymark-xds-server.waymark-system.svc.cluster.local.:18000`,
      );
    }
    xds = { host: host.replace(/^\[(.*)\]$/, "$1"), port };
  }
  const image = env["WAYMARK_PROXY_IMAGE"]?.trim() || d.image;
  if (/\s/.test(image)) throw new ConfigError(`WAYMARK_PROXY_IMAGE=${JSON.stringify(image)}: not an image`);
  const tokenAudience = env["WAYMARK_XDS_TOKEN_AUDIENCE"]?.trim() || d.tokenAudience;
  if (!AUDIENCE.test(tokenAudience)) {
    throw new ConfigError(`WAYMARK_XDS_TOKEN_AUDIENCE=${JSON.stringify(tokenAudience)}: no spaces allowed`);
  }
  return Object.freeze({ xds: Object.freeze(xds), image, tokenAudience });
}
