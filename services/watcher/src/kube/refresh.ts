// The timed re-read of objects the watcher reads by name (referenced Secrets, the mesh config
// ConfigMap): they have no watch, so each is read again every `everyMs`, the next read timed from
// the end of the last so that reads never pile up behind a slow API server.
export function refreshEvery(everyMs: number, read: () => Promise<unknown>): { stop(): void } {
  let stopped = false;
  let timer: NodeJS.Timeout | undefined;
  const tick = () => {
    if (stopped) return;
    void read().finally(() => {
      if (!stopped) timer = setTimeout(tick, everyMs);
    });
  };
  timer = setTimeout(tick, everyMs);
  return {
    stop() {
      stopped = true;
      if (timer) clearTimeout(timer);
    },
  };
}
