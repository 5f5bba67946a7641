import { spawn, type ChildProcess } from "node:child_process";

/**
 * CPU and memory of process trees from /proc, read in a child process: never on the main event
 * loop, where a synchronous /proc walk (every process's stat, smaps_rollup of each) stalls the
 * host's media path for milliseconds (measured: it doubled latency when done once a second).
 * A child process rather than a worker thread, so the reading's own CPU is not counted as the
 * host's.
 */

export interface GroupSpec {
  pid: number;
  /** Include every descendant (walks /proc/<pid>/stat ppid links). */
  tree: boolean;
  /** Also collect per-thread CPU ticks, keyed "process-type/thread-name". */
  threads?: boolean;
  /** Also count open file descriptors (/proc/<pid>/fd), summed over the group. */
  fds?: boolean;
  /** Also report each process on its own (`byPid`). */
  perPid?: boolean;
}

export interface ProcessSample {
  type: string;
  rssKb: number;
  ussKb: number;
  anonKb: number;
  /** -1 when unreadable, absent without `fds`. */
  fds?: number;
}

export interface GroupSample {
  /** CPU ticks (utime + stime) per pid. */
  ticks: Record<number, number>;
  /** Sum of Pss over the group, kB (from smaps_rollup): shared pages split among all their users. */
  pssKb: number;
  /** Sum of private pages (Private_Clean + Private_Dirty), kB: what the group alone holds. */
  ussKb: number;
  /** Sum of Rss, kB: shared pages count once per process that maps them. */
  rssKb: number;
  /**
   * Sum of Anonymous, kB: resident heap and stack pages, shared (copy-on-write) or not. Unlike USS
   * it does not move when another process stops sharing file pages (another Chrome exiting makes
   * the binary's pages private to ours: measured +54 MB of USS in the browser process at once).
   */
  anonKb: number;
  /** Open file descriptors over the group (only with `fds`; -1 where a process's fd list could not be read). */
  fds?: number;
  /** Each process (only with `perPid`). */
  byPid?: Record<number, ProcessSample>;
  /** Pss per process type (chrome: browser, renderer, gpu-process, utility:audio…), kB. */
  pssByType: Record<string, number>;
  pids: number[];
  /** Per-thread ticks, "type/comm:tid" → ticks (only with `threads`). */
  threadTicks?: Record<string, number>;
}

export interface Sample {
  atMs: number;
  clkTck: number;
  /** Busy ticks of all CPUs together (/proc/stat). */
  systemBusyTicks: number;
  groups: Record<string, GroupSample>;
}

const SAMPLER_SOURCE = String.raw`
const fs = require("node:fs");
const { execFileSync } = require("node:child_process");
let clkTck = 100;
try { clkTck = Number(execFileSync("getconf", ["CLK_TCK"]).toString().trim()) || 100; } catch {}
const typeCache = new Map();

function readStat(path) {
  try {
    const s = fs.readFileSync(path, "utf8");
    const close = s.lastIndexOf(")");
    const comm = s.slice(s.indexOf("(") + 1, close);
    const f = s.slice(close + 2).split(" ");
    // After "pid (comm) ": state=0 ppid=1 … utime=11 stime=12 (fields 14 and 15 of stat(5)).
    return { comm, ppid: Number(f[1]), ticks: Number(f[11]) + Number(f[12]) };
  } catch { return undefined; }
}

function procType(pid) {
  if (typeCache.has(pid)) return typeCache.get(pid);
  let t = "main";
  try {
    // Chrome rewrites its command line (one space-separated string); others keep NUL separators.
    const cmd = fs.readFileSync("/proc/" + pid + "/cmdline", "utf8").split(/[\0 ]/);
    const type = cmd.find((a) => a.startsWith("--type="));
    const sub = cmd.find((a) => a.startsWith("--utility-sub-type="));
    if (type) t = type.slice(7) + (sub ? ":" + sub.slice(19).replace(/\.mojom\..*/, "") : "");
    else t = (cmd[0] || "").split("/").pop() || "main";
    if (t === "chromium" || t === "chrome") t = "browser";
  } catch {}
  typeCache.set(pid, t);
  return t;
}

function memory(pid) {
  try {
    const text = fs.readFileSync("/proc/" + pid + "/smaps_rollup", "utf8");
    const kb = (name) => Number((text.match(new RegExp("^" + name + ":\\s+(\\d+) kB", "m")) || [])[1] || 0);
    return { pss: kb("Pss"), uss: kb("Private_Clean") + kb("Private_Dirty"), rss: kb("Rss"), anon: kb("Anonymous") };
  } catch { return { pss: 0, uss: 0, rss: 0, anon: 0 }; }
}

/** All CPUs' busy ticks (user, nice, system, irq, softirq, steal) from /proc/stat. */
function systemBusy() {
  const f = fs.readFileSync("/proc/stat", "utf8").split("\n")[0].trim().split(/\s+/).slice(1).map(Number);
  return f[0] + f[1] + f[2] + f[5] + f[6] + (f[7] || 0);
}

function sample(groups) {
  const all = new Map();
  for (const name of fs.readdirSync("/proc")) {
    if (!/^\d+$/.test(name)) continue;
    const st = readStat("/proc/" + name + "/stat");
    if (st) all.set(Number(name), st);
  }
  const children = new Map();
  for (const [pid, st] of all) {
    if (!children.has(st.ppid)) children.set(st.ppid, []);
    children.get(st.ppid).push(pid);
  }
  const out = {};
  for (const [gname, spec] of Object.entries(groups)) {
    const pids = [];
    const queue = [spec.pid];
    while (queue.length) {
      const p = queue.shift();
      if (!all.has(p)) continue;
      pids.push(p);
      if (spec.tree) queue.push(...(children.get(p) || []));
    }
    const g = { ticks: {}, pssKb: 0, ussKb: 0, rssKb: 0, anonKb: 0, pssByType: {}, pids };
    if (spec.threads) g.threadTicks = {};
    if (spec.fds) g.fds = 0;
    if (spec.perPid) g.byPid = {};
    for (const p of pids) {
      g.ticks[p] = all.get(p).ticks;
      const mem = memory(p);
      g.pssKb += mem.pss;
      g.ussKb += mem.uss;
      g.rssKb += mem.rss;
      g.anonKb += mem.anon;
      let fds;
      if (spec.fds) {
        // A process that exited since the walk holds none; one we may not read makes the count unknown.
        try { fds = fs.readdirSync("/proc/" + p + "/fd").length; } catch (e) { fds = e.code === "ENOENT" ? 0 : -1; }
        g.fds = g.fds < 0 || fds < 0 ? -1 : g.fds + fds;
      }
      const type = procType(p);
      if (spec.perPid) g.byPid[p] = { type, rssKb: mem.rss, ussKb: mem.uss, anonKb: mem.anon, fds };
      g.pssByType[type] = (g.pssByType[type] || 0) + mem.pss;
      if (spec.threads) {
        let tids = [];
        try { tids = fs.readdirSync("/proc/" + p + "/task"); } catch {}
        for (const tid of tids) {
          const ts = readStat("/proc/" + p + "/task/" + tid + "/stat");
          if (ts) g.threadTicks[type + "/" + ts.comm + ":" + tid] = ts.ticks;
        }
      }
    }
    out[gname] = g;
  }
  return out;
}

process.on("disconnect", () => process.exit(0));
process.on("message", (m) => {
  const atMs = performance.timeOrigin + performance.now();
  let groups;
  let busy;
  try { busy = systemBusy(); groups = sample(m.groups); } catch (err) { process.send({ id: m.id, error: String(err) }); return; }
  process.send({ id: m.id, sample: { atMs, clkTck, systemBusyTicks: busy, groups } });
});
`;

/** The sampler: one child process, asked for a sample whenever needed. */
export class ProcSampler {
  private readonly child: ChildProcess = spawn(process.execPath, ["-e", SAMPLER_SOURCE], { stdio: ["ignore", "inherit", "inherit", "ipc"] });
  private next = 0;
  private readonly waiting = new Map<number, { resolve(s: Sample): void; reject(e: Error): void }>();

  constructor() {
    this.child.on("message", (m: { id: number; sample?: Sample; error?: string }) => {
      const w = this.waiting.get(m.id);
      if (!w) return;
      this.waiting.delete(m.id);
      if (m.sample) w.resolve(m.sample);
      else w.reject(new Error(m.error));
    });
  }

  get pid(): number {
    return this.child.pid!;
  }

  sample(groups: Record<string, GroupSpec>): Promise<Sample> {
    const id = ++this.next;
    return new Promise((resolve, reject) => {
      this.waiting.set(id, { resolve, reject });
      this.child.send({ id, groups });
    });
  }

  async close(): Promise<void> {
    if (this.child.exitCode !== null) return;
    const exited = new Promise<void>((r) => this.child.once("exit", () => r()));
    this.child.disconnect();
    await exited;
  }
}

export interface GroupUsage {
  /** CPU over the window, % of one core. */
  cpuPct: number;
  /** Pss at the window's end, MB. */
  pssMb: number;
  /** Private memory (USS) at the window's end, MB: unlike Pss, it does not move when other processes map the same files. */
  ussMb: number;
  pssByTypeMb: Record<string, number>;
  processes: number;
  /** Top threads by CPU over the window (% of one core), when sampled with `threads`. */
  topThreads?: Array<{ thread: string; cpuPct: number }>;
}

/** CPU (% of one core) between two samples, per group; Pss from the later one. */
export function usage(a: Sample, b: Sample): Record<string, GroupUsage> {
  const seconds = (b.atMs - a.atMs) / 1000;
  const out: Record<string, GroupUsage> = {};
  for (const [name, gb] of Object.entries(b.groups)) {
    const ga = a.groups[name];
    let ticks = 0;
    // Processes alive at both ends; one started inside the window counts from zero.
    for (const [pid, t] of Object.entries(gb.ticks)) ticks += t - (ga?.ticks[Number(pid)] ?? 0);
    const u: GroupUsage = {
      cpuPct: (ticks / b.clkTck / seconds) * 100,
      pssMb: gb.pssKb / 1024,
      ussMb: gb.ussKb / 1024,
      pssByTypeMb: Object.fromEntries(Object.entries(gb.pssByType).map(([k, v]) => [k, Math.round(v / 102.4) / 10])),
      processes: gb.pids.length,
    };
    if (gb.threadTicks) {
      const byThread = new Map<string, number>();
      for (const [key, t] of Object.entries(gb.threadTicks)) {
        const d = t - (ga?.threadTicks?.[key] ?? 0);
        // Threads of one name (e.g. several WebRTC workers) are summed; the tid is dropped.
        const label = key.replace(/:\d+$/, "");
        byThread.set(label, (byThread.get(label) ?? 0) + d);
      }
      u.topThreads = [...byThread.entries()]
        .map(([thread, t]) => ({ thread, cpuPct: Math.round((t / b.clkTck / seconds) * 1000) / 10 }))
        .filter((x) => x.cpuPct > 0)
        .sort((x, y) => y.cpuPct - x.cpuPct)
        .slice(0, 12);
    }
    out[name] = u;
  }
  return out;
}

/** CPU of the whole machine over the window (% of one core; 100 × cores at most), and what is left after the groups. */
export function machine(a: Sample, b: Sample, groups: Record<string, GroupUsage>): { totalPct: number; othersPct: number } {
  const seconds = (b.atMs - a.atMs) / 1000;
  const totalPct = ((b.systemBusyTicks - a.systemBusyTicks) / b.clkTck / seconds) * 100;
  const ours = Object.values(groups).reduce((s, g) => s + g.cpuPct, 0);
  return { totalPct, othersPct: Math.max(0, totalPct - ours) };
}
