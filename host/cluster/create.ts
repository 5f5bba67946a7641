import type { Logger } from "pino";
import type { Config } from "../config.ts";
import type { Cluster } from "./cluster.ts";
import { LocalCluster } from "./local-cluster.ts";
import { RedisCluster } from "./redis-cluster.ts";

/** REDIS_URL decides: a cluster through Redis, or a host on its own (exactly as without clusters). */
export function createCluster(config: Pick<Config, "cluster" | "http">, log: Logger): Cluster {
  const c = config.cluster;
  if (!c) return new LocalCluster();
  return new RedisCluster({ url: c.redisUrl, hostId: c.hostId, http: `${config.http.host}:${config.http.port}`, log });
}
