// Draws propagation p50/p99 against P (connected proxies) as an SVG, from the JSON that
// `pnpm bench xds-propagation` writes:  node bench/lib/chart.ts [results.json] [out.svg]
import { mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

interface Point {
  proxies: number;
  p50_ms: number;
  p99_ms: number;
}

const root = join(fileURLToPath(import.meta.url), "..", "..", "..");
const input = process.argv[2] ?? join(root, "bench-results", "xds-propagation.json");
const output = process.argv[3] ?? join(root, "docs", "img", "propagation-p99.svg");
const result = JSON.parse(readFileSync(input, "utf8")) as { series: Point[]; routes: number; at: string };
const pts = [...result.series].sort((a, b) => a.proxies - b.proxies);

const W = 640;
const H = 360;
const M = { l: 64, r: 24, t: 40, b: 48 };
const maxX = Math.max(...pts.map((p) => p.proxies));
const maxY = Math.max(1000, ...pts.map((p) => p.p99_ms)) * 1.1;
const x = (v: number) => Math.round((M.l + (v / maxX) * (W - M.l - M.r)) * 10) / 10;
const y = (v: number) => Math.round((H - M.b - (v / maxY) * (H - M.t - M.b)) * 10) / 10;
const line = (key: "p50_ms" | "p99_ms") =>
  pts.map((p, i) => `${i ? "L" : "M"}${x(p.proxies).toFixed(1)},${y(p[key]).toFixed(1)}`).join(" ");
const step = [50, 100, 200, 250, 500, 1000, 2000, 5000, 10_000].find((t) => t * 6 >= maxY) ?? 20_000;
const ticksY = Array.from({ length: Math.floor(maxY / step) + 1 }, (_, i) => i * step);
const parts = [
  `<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${H}" font-family="sans-serif" font-size="12">`,
  `<rect width="${W}" height="${H}" fill="white"/>`,
  `<text x="${W / 2}" y="22" text-anchor="middle" font-size="14">Propagation (route write → last ACK), R = ${result.routes} routes</text>`,
  `<line x1="${M.l}" y1="${H - M.b}" x2="${W - M.r}" y2="${H - M.b}" stroke="black"/>`,
  `<line x1="${M.l}" y1="${M.t}" x2="${M.l}" y2="${H - M.b}" stroke="black"/>`,
  ...ticksY.map(
    (v) =>
      `<line x1="${M.l}" y1="${y(v)}" x2="${W - M.r}" y2="${y(v)}" stroke="#ddd"/><text x="${M.l - 6}" y="${y(v) + 4}" text-anchor="end">${v}</text>`,
  ),
  ...pts.map((p) => `<text x="${x(p.proxies)}" y="${H - M.b + 16}" text-anchor="middle">${p.proxies}</text>`),
  `<text x="${W / 2}" y="${H - 10}" text-anchor="middle">connected proxies (P)</text>`,
  `<text x="16" y="${H / 2}" transform="rotate(-90 16 ${H / 2})" text-anchor="middle">ms</text>`,
  `<line x1="${M.l}" y1="${y(1000)}" x2="${W - M.r}" y2="${y(1000)}" stroke="#c00" stroke-dasharray="6 4"/>`,
  `<text x="${W - M.r - 4}" y="${y(1000) - 6}" text-anchor="end" fill="#c00">p99 target 1 s</text>`,
  `<path d="${line("p99_ms")}" fill="none" stroke="#1f5fbf" stroke-width="2"/>`,
  `<path d="${line("p50_ms")}" fill="none" stroke="#2a9d4b" stroke-width="2"/>`,
  ...pts.map((p) => `<circle cx="${x(p.proxies)}" cy="${y(p.p99_ms)}" r="3" fill="#1f5fbf"/>`),
  ...pts.map((p) => `<circle cx="${x(p.proxies)}" cy="${y(p.p50_ms)}" r="3" fill="#2a9d4b"/>`),
  `<text x="${M.l + 10}" y="${M.t + 6}" fill="#1f5fbf">p99</text>`,
  `<text x="${M.l + 44}" y="${M.t + 6}" fill="#2a9d4b">p50</text>`,
  `<text x="${W - M.r}" y="${M.t - 6}" text-anchor="end" fill="#666" font-size="10">${result.at}</text>`,
  "</svg>",
];
mkdirSync(dirname(output), { recursive: true });
writeFileSync(output, `${parts.join("\n")}\n`);
console.log(`wrote ${output}`);
