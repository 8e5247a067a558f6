import assert from "node:assert/strict";
import { test } from "node:test";
import { isHttp2Port, isHttpPort, isTcpTransport, protocolKeyword } from "./protocol.ts";

test("appProtocol wins over the port name, which wins over the protocol", () => {
  assert.equal(protocolKeyword({ appProtocol: "tcp", name: "http", protocol: "TCP" }), "tcp");
  assert.equal(protocolKeyword({ name: "http-web", protocol: "TCP" }), "http");
  assert.equal(protocolKeyword({ protocol: "TCP" }), "tcp");
  assert.equal(protocolKeyword({}), "");
});

test("HTTP iff the keyword before the first '-' is http, http2, http_proxy or grpc", () => {
  for (const name of [
    "http",
    "http-web",
    "http2",
    "http2-api",
    "http_proxy",
    "grpc",
    "grpc-web",
    "HTTP-admin",
  ]) {
    assert.ok(isHttpPort({ name }), name);
  }
  for (const name of ["https", "tcp", "tcp-http", "redis", "web", "h2c", "httpx", "mongo", ""]) {
    assert.ok(!isHttpPort({ name }), name);
  }
  assert.ok(!isHttpPort({ appProtocol: "tcp", name: "http" }), "appProtocol decides");
  assert.ok(isHttpPort({ appProtocol: "kubernetes.io/h2c", name: "tcp" }), "h2c is HTTP/2 prior knowledge");
  assert.ok(isHttpPort({ appProtocol: "http", name: "tcp-db" }));
  assert.ok(!isHttpPort({ protocol: "TCP" }));
});

test("HTTP/2 upstreams: http2, grpc and kubernetes.io/h2c", () => {
  assert.ok(isHttp2Port({ appProtocol: "grpc" }));
  assert.ok(isHttp2Port({ appProtocol: "kubernetes.io/h2c" }));
  assert.ok(isHttp2Port({ name: "grpc-api" }));
  assert.ok(isHttp2Port({ name: "http2-api" }));
  assert.ok(!isHttp2Port({ appProtocol: "http" }));
  assert.ok(!isHttp2Port({ name: "tcp" }));
});

test("only TCP ports reach a waypoint", () => {
  assert.ok(isTcpTransport({}));
  assert.ok(isTcpTransport({ protocol: "TCP" }));
  assert.ok(!isTcpTransport({ protocol: "UDP" }));
  assert.ok(!isTcpTransport({ protocol: "SCTP" }));
});
