// The page's bundle and its cache (browser/build.ts): a start with unchanged sources serves the
// cached bundle; any input that changed, or a cache from another build, means a fresh build.
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { buildPage } from "../browser/build.ts";

const dir = mkdtempSync(join(tmpdir(), "page-bundle-"));
const cachePath = join(dir, "sub", "page-bundle.json");
afterAll(() => rmSync(dir, { recursive: true, force: true }));

type Cached = { key: string; inputs: Record<string, string>; files: Record<string, string> };
const readCache = () => JSON.parse(readFileSync(cachePath, "utf8")) as Cached;

describe("the page bundle", () => {
  let fresh: Record<string, string>;

  it("builds the four scripts and caches them with a hash of every input", async () => {
    fresh = await buildPage(cachePath);
    expect(Object.keys(fresh).filter((k) => !k.endsWith(".map")).sort()).toEqual(["media-hub.worklet.js", "media-worker.js", "page.js", "uplink.worker.js"]);
    expect(fresh["page.js"].length).toBeGreaterThan(10_000);
    const cached = readCache();
    expect(cached.files).toEqual(fresh);
    expect(Object.keys(cached.inputs)).toEqual(expect.arrayContaining(["browser/page.ts", "browser/media-hub.worklet.ts", "package-lock.json"]));
    expect(Object.keys(cached.inputs).some((p) => p.includes("ringcentral-web-phone"))).toBe(true);
    for (const hash of Object.values(cached.inputs)) expect(hash).toMatch(/^[0-9a-f]{64}$/);
  });

  it("unchanged inputs: the cached files are served as they are", async () => {
    const cached = readCache();
    // A marker only the cache holds: served means read from the cache, not rebuilt.
    cached.files["media-worker.js"] += "\n// cached";
    writeFileSync(cachePath, JSON.stringify(cached));
    expect((await buildPage(cachePath))["media-worker.js"]).toMatch(/\/\/ cached$/);
  });

  it("an input that changed: built afresh, and the cache rewritten", async () => {
    const cached = readCache();
    cached.inputs["browser/page.ts"] = "0".repeat(64);
    writeFileSync(cachePath, JSON.stringify(cached));
    expect(await buildPage(cachePath)).toEqual(fresh);
    expect(readCache().inputs["browser/page.ts"]).not.toBe("0".repeat(64));
    expect(readCache().files).toEqual(fresh);
  });

  it("a cache from another esbuild or other options, or unreadable: built afresh", async () => {
    const cached = readCache();
    cached.key = "0.0.0 {}";
    cached.files["page.js"] = "stale";
    writeFileSync(cachePath, JSON.stringify(cached));
    expect(await buildPage(cachePath)).toEqual(fresh);
    writeFileSync(cachePath, "{ not json");
    expect(await buildPage(cachePath)).toEqual(fresh);
  });

  it("a cache path that cannot be written: the bundle still builds", async () => {
    writeFileSync(join(dir, "file"), "");
    expect(await buildPage(join(dir, "file", "page-bundle.json"))).toEqual(fresh);
  });
});
