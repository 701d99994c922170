/**
 * The worker processes of `vcm serve` that run shards of a sharded pass, for the tests that kill one
 * mid-shard (sharded-export.test.ts, sharded-evaluation.test.ts).
 */
import { spawnSync } from "node:child_process";
import type { DataSource } from "typeorm";
import { ExportShard } from "../../src/db/entities/export-job.entity.ts";
import { sleep } from "../graphql/serve-process.ts";

/** The pids of a process's children (its job workers). */
export function childrenOf(pid: number): number[] {
  const out = spawnSync("ps", ["-o", "pid=", "--ppid", String(pid)], { encoding: "utf8" }).stdout;
  return out
    .split("\n")
    .map((line) => Number(line.trim()))
    .filter((n) => Number.isInteger(n) && n > 0);
}

/**
 * Waits (up to 30 s) for one of the given servers to run a shard, kills that server's workers with
 * SIGKILL while it runs, and returns the shard's row as it was then (undefined when none ran meanwhile).
 */
export async function killARunningShardWorker(o: { dataSource: DataSource; serverPids: ReadonlySet<number> }): Promise<ExportShard | undefined> {
  for (let i = 0; i < 600; i += 1) {
    const running = await o.dataSource.getRepository(ExportShard).find({ where: { status: "running" } });
    for (const shard of running) {
      const pid = Number(shard.owner?.split(":")[1]);
      if (!o.serverPids.has(pid)) continue;
      const workers = childrenOf(pid);
      if (workers.length === 0) continue;
      for (const worker of workers) process.kill(worker, "SIGKILL");
      return shard;
    }
    await sleep(50);
  }
  return undefined;
}
