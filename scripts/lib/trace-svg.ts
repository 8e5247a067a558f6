// Renders one trace from Jaeger's query API (`/api/traces/<id>` JSON) as an SVG timeline: one row per
// span in parent-before-child order, indented by depth, a bar per span on a shared time axis, coloured
// by service; spans in error are red and show their status. Pure: JSON in, SVG text out. (The Jaeger
// v2 build from the Go module proxy carries no UI, so the docs' picture is drawn with this.)

export interface TraceJson {
  traceID: string;
  spans: Array<{
    spanID: string;
    operationName: string;
    references: Array<{ refType: string; spanID: string }>;
    startTime: number;
    duration: number;
    tags: Array<{ key: string; value: unknown }>;
    processID: string;
  }>;
  processes: Record<string, { serviceName: string }>;
}

const COLOURS = ["#4e79a7", "#f28e2b", "#59a14f", "#b07aa1", "#76b7b2", "#edc948"];
const esc = (s: string) =>
  s.replaceAll("&", "&amp;").replaceAll("<", "&lt;").replaceAll(">", "&gt;").replaceAll('"', "&quot;");

export function renderTraceSvg(t: TraceJson, title = `trace ${t.traceID}`): string {
  const tag = (s: TraceJson["spans"][number], k: string) => s.tags.find((x) => x.key === k)?.value;
  const ids = new Set(t.spans.map((s) => s.spanID));
  // As Jaeger does: the CHILD_OF reference, else the first one.
  const parent = (s: TraceJson["spans"][number]) =>
    [s.references.find((r) => r.refType === "CHILD_OF"), s.references[0]].find((r) => r && ids.has(r.spanID))
      ?.spanID;
  const children = new Map<string | undefined, TraceJson["spans"]>();
  for (const s of t.spans) {
    const p = parent(s);
    children.set(p, [...(children.get(p) ?? []), s]);
  }
  for (const list of children.values()) list.sort((a, b) => a.startTime - b.startTime);
  const rows: Array<{ s: TraceJson["spans"][number]; depth: number }> = [];
  const walk = (p: string | undefined, depth: number) => {
    for (const s of children.get(p) ?? []) {
      rows.push({ s, depth });
      walk(s.spanID, depth + 1);
    }
  };
  walk(undefined, 0);
  const services = [...new Set(t.spans.map((s) => t.processes[s.processID]?.serviceName ?? "?"))].sort();
  const colour = (svc: string) => COLOURS[services.indexOf(svc) % COLOURS.length]!;
  const t0 = Math.min(...t.spans.map((s) => s.startTime));
  const t1 = Math.max(...t.spans.map((s) => s.startTime + s.duration));
  const total = Math.max(1, t1 - t0);
  const labelW = 430;
  const barW = 560;
  const rowH = 22;
  const top = 64;
  const width = labelW + barW + 480;
  const height = top + rows.length * rowH + 40;
  const x = (us: number) => labelW + ((us - t0) / total) * barW;
  const ms = (us: number) => (us >= 1000 ? `${(us / 1000).toFixed(1)} ms` : `${us} µs`);
  const out: string[] = [];
  out.push(
    `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}" font-family="Helvetica, Arial, sans-serif" font-size="12">`,
    `<rect width="100%" height="100%" fill="#ffffff"/>`,
    `<text x="12" y="22" font-size="15" font-weight="bold">${esc(title)}</text>`,
  );
  let lx = 12;
  for (const svc of services) {
    out.push(`<rect x="${lx}" y="34" width="12" height="12" fill="${colour(svc)}"/>`);
    out.push(`<text x="${lx + 16}" y="44">${esc(svc)}</text>`);
    lx += 30 + svc.length * 7.5;
  }
  for (let i = 0; i <= 4; i++) {
    const gx = labelW + (barW * i) / 4;
    out.push(`<line x1="${gx}" y1="${top - 6}" x2="${gx}" y2="${height - 30}" stroke="#dddddd"/>`);
    out.push(
      `<text x="${gx}" y="${height - 14}" text-anchor="middle" fill="#666666">${ms((total * i) / 4)}</text>`,
    );
  }
  rows.forEach(({ s, depth }, i) => {
    const y = top + i * rowH;
    const svc = t.processes[s.processID]?.serviceName ?? "?";
    const error = tag(s, "otel.status_code") === "ERROR" || tag(s, "error") === true;
    const node = tag(s, "envoy.node.id");
    const outcome = tag(s, "xds.outcome");
    const label = `${s.operationName}${node ? ` → ${String(node)}` : ""}`;
    if (i % 2 === 0) out.push(`<rect x="0" y="${y - 1}" width="${width}" height="${rowH}" fill="#f7f7f7"/>`);
    out.push(
      `<text x="${12 + depth * 14}" y="${y + 14}"${error ? ' fill="#c00000"' : ""}>${esc(label)}</text>`,
    );
    const bx = x(s.startTime);
    const bw = Math.max(2, x(s.startTime + s.duration) - bx);
    out.push(
      `<rect x="${bx.toFixed(1)}" y="${y + 3}" width="${bw.toFixed(1)}" height="${rowH - 8}" rx="2" fill="${colour(svc)}"${error ? ' stroke="#c00000" stroke-width="2"' : ""}><title>${esc(`${svc}: ${s.operationName} (${ms(s.duration)})`)}</title></rect>`,
    );
    const note = `${ms(s.duration)}${outcome ? ` ${String(outcome).toUpperCase()}` : ""}${error && tag(s, "xds.error_detail") ? `: ${String(tag(s, "xds.error_detail")).slice(0, 52)}…` : ""}`;
    out.push(
      `<text x="${(bx + bw + 4).toFixed(1)}" y="${y + 14}" fill="${error ? "#c00000" : "#333333"}">${esc(note)}</text>`,
    );
  });
  out.push("</svg>");
  return `${out.join("\n")}\n`;
}
