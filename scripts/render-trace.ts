// `node scripts/render-trace.ts <trace.json | http://127.0.0.1:16686/api/traces/<id>> <out.svg> [title]`:
// draws one trace from Jaeger's query API as an SVG timeline (see scripts/lib/trace-svg.ts).
import { readFileSync, writeFileSync } from "node:fs";
import { renderTraceSvg, type TraceJson } from "./lib/trace-svg.ts";

const [src, out, title] = process.argv.slice(2);
if (!src || !out) {
  console.error("usage: node scripts/render-trace.ts <trace.json | query API URL> <out.svg> [title]");
  process.exit(2);
}
const text = /^https?:/.test(src) ? await (await fetch(src)).text() : readFileSync(src, "utf8");
const json = JSON.parse(text) as { data?: TraceJson[] } | TraceJson;
const trace = "data" in json && json.data ? json.data[0] : (json as TraceJson);
if (!trace?.spans?.length) {
  console.error(`${src}: no trace in it`);
  process.exit(1);
}
writeFileSync(out, renderTraceSvg(trace, title));
console.log(`${out}: ${trace.spans.length} spans`);
