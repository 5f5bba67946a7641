import { readFileSync, readdirSync } from "node:fs";
import { dirname, join, relative, resolve } from "node:path";
import ts from "typescript";
import { describe, expect, it } from "vitest";

// The layout's rules (docs/ARCHITECTURE.md), checked on the real import graph of every source file.
const ROOT = resolve(import.meta.dirname, "..");
const FOLDERS = ["host", "browser", "bridge", "twin", "bench", "examples"];

function sources(dir: string): string[] {
  return readdirSync(join(ROOT, dir), { withFileTypes: true, recursive: true })
    .filter((e) => e.isFile() && e.name.endsWith(".ts"))
    .map((e) => relative(ROOT, join(e.parentPath, e.name)));
}

/** file → the project files it imports (type-only imports included: they are arrows too). */
const graph = new Map<string, string[]>();
for (const file of FOLDERS.flatMap(sources)) {
  const { importedFiles } = ts.preProcessFile(readFileSync(join(ROOT, file), "utf8"), true, false);
  graph.set(
    file,
    importedFiles.map((i) => i.fileName).filter((f) => f.startsWith(".")).map((f) => relative(ROOT, resolve(ROOT, dirname(file), f))),
  );
}
const folderOf = (f: string) => f.split("/")[0];

function arrows(from: string, to: string[], except: string[] = []): string[] {
  return [...graph].flatMap(([f, deps]) => (folderOf(f) === from && !except.includes(f) ? deps.filter((d) => to.includes(folderOf(d))).map((d) => `${f} → ${d}`) : []));
}

describe("architecture", () => {
  it("reads the whole tree", () => {
    expect(graph.size).toBeGreaterThan(80);
    expect(graph.get("host/host.ts")).toContain("host/answering.ts");
  });

  it("every import names a file that exists", () => {
    const missing = [...graph].flatMap(([f, deps]) => deps.filter((d) => !graph.has(d) && !d.startsWith("node_modules")).map((d) => `${f} → ${d}`));
    expect(missing).toEqual([]);
  });

  it("bridge/ imports neither host/ nor browser/", () => {
    expect(arrows("bridge", ["host", "browser", "twin"])).toEqual([]);
  });

  it("browser/ takes only the page protocol and frame codec from bridge/, nothing from host/", () => {
    const allowed = ["bridge/page-protocol.ts", "bridge/page-frames.ts"];
    expect(arrows("browser", ["bridge"]).filter((a) => !allowed.some((ok) => a.endsWith(ok)))).toEqual([]);
    expect(arrows("browser", ["host", "twin"])).toEqual([]);
  });

  it("the twin meets the product only on the wire; only the demo runs the twin in the host's process", () => {
    expect(arrows("twin", ["host", "bridge", "browser", "bench", "examples"])).toEqual([]);
    expect(arrows("host", ["twin", "examples", "bench"], ["host/demo.ts"])).toEqual([]);
  });

  it("has no import circles", () => {
    const cycles: string[] = [];
    const state = new Map<string, "open" | "done">();
    const visit = (f: string, path: string[]) => {
      if (state.get(f) === "done") return;
      if (state.get(f) === "open") return void cycles.push([...path.slice(path.indexOf(f)), f].join(" → "));
      state.set(f, "open");
      for (const d of graph.get(f) ?? []) visit(d, [...path, f]);
      state.set(f, "done");
    };
    for (const f of graph.keys()) visit(f, []);
    expect(cycles).toEqual([]);
  });
});
