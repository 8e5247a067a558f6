// The waypoint bootstrap lives in @waymark/waypoint. This re-export is kept only because
// translate/fuzz-xds.test.ts still imports it from here; it goes once that import names the package.
export { renderBootstrap } from "@waymark/waypoint";
