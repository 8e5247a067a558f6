// Leader handling: with leader election, only the elected replica runs a translator (and publishes);
// a standby waits, and a leader that loses its lease stops its translator. Without election the
// translator runs at once. The caller says how to start a translator and hears of each change.
import type { Logger } from "@waymark/api";
import type { KV } from "@waymark/bus";
import { type LeaderElection, startLeaderElection } from "./leader.ts";
import type { Translator } from "./translator.ts";

export interface TranslatorRoleOptions {
  /**
   * Starts a translator. `canPublish` is false while this replica is not the leader: a build that
   * was running when the lease was lost writes nothing.
   */
  start(canPublish: () => boolean): Promise<Translator>;
  /** Leader election through this lease bucket; without it the translator runs at once. */
  election?: { kv: KV; key: string; id: string; ttlMs: number; renewMs?: number };
  log: Logger;
  /** A translator started (this replica leads, or there is no election). */
  onStarted?(t: Translator): void;
  /** This replica waits as a standby (at start with election, and after losing the lease). */
  onStandby?(): void;
}

export interface TranslatorRole {
  /** The running translator, if this replica runs one now. */
  readonly translator: Translator | undefined;
  readonly election: LeaderElection | undefined;
  /** Steps down (releasing the lease) and stops the translator. */
  stop(): Promise<void>;
}

export async function startTranslatorRole(o: TranslatorRoleOptions): Promise<TranslatorRole> {
  let translator: Translator | undefined;
  let election: LeaderElection | undefined;
  const run = async () => {
    translator = await o.start(() => election?.isLeader ?? true);
    o.onStarted?.(translator);
  };
  if (o.election) {
    o.onStandby?.();
    election = startLeaderElection({
      ...o.election,
      log: o.log,
      onElected: run,
      async onDeposed() {
        o.onStandby?.();
        const t = translator;
        translator = undefined;
        await t?.stop();
      },
    });
  } else {
    await run();
  }
  return {
    get translator() {
      return translator;
    },
    get election() {
      return election;
    },
    async stop() {
      await election?.stop();
      await translator?.stop();
    },
  };
}
