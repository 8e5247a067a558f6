// Kept so that service/build-status.ts (outside this folder's owner) still finds boundedMessage here;
// the statuses stage lives in status/. Point that import at ./status/status.ts and delete this file.
export { boundedMessage } from "./status/status.ts";
