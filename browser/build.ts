import { build, version as esbuildVersion, type BuildOptions } from "esbuild";
import { createHash } from "node:crypto";
import { mkdir, readFile, rename, writeFile } from "node:fs/promises";
import { homedir } from "node:os";
import { join, resolve } from "node:path";
import { fileURLToPath } from "node:url";

/** The page's four scripts, bundled in memory at start (about 100–250 ms of esbuild): no build step to forget. */
export type PageBundle = {
  "page.js": string;
  "media-worker.js": string;
  "media-hub.worklet.js": string;
  "uplink.worker.js": string;
};

const entries: Record<keyof PageBundle, string> = {
  "page.js": "page.ts",
  "media-worker.js": "media-worker.ts",
  "media-hub.worklet.js": "media-hub.worklet.ts",
  "uplink.worker.js": "uplink.worker.ts",
};

const dir = fileURLToPath(new URL(".", import.meta.url));
const root = resolve(dir, "..");
/**
 * The last bundle, with a hash of every file it was built from: a start whose sources are
 * unchanged serves it instead of running esbuild while Chrome starts (both want the 2 cores).
 */
export const DEFAULT_BUNDLE_CACHE = join(process.env.XDG_CACHE_HOME || join(homedir(), ".cache"), "rc-voice-host", `page-bundle-${createHash("sha256").update(root).digest("hex").slice(0, 16)}.json`);

const options: BuildOptions = {
  bundle: true,
  write: false,
  format: "iife",
  target: "chrome120",
  // The WebPhone's dependencies hold non-ASCII regexes: keep them UTF-8 and serve as UTF-8.
  charset: "utf8",
  minify: true,
  keepNames: true,
  // Linked, not inline: Chrome parses the map only when DevTools opens.
  sourcemap: "linked",
  logLevel: "silent",
  metafile: true,
  // The metafile names inputs relative to this: the project's root, wherever the host starts from.
  absWorkingDir: root,
};

interface Cached {
  /** esbuild's version and the options: a change of either is a different bundle. */
  key: string;
  /** Every input file (relative to the project) → sha256 of its content. */
  inputs: Record<string, string>;
  files: PageBundle;
}

const cacheKey = `${esbuildVersion} ${JSON.stringify(options)} ${JSON.stringify(entries)}`;
const sha256 = (data: Buffer | string) => createHash("sha256").update(data).digest("hex");

/** The bundle: from `cachePath` when every input hashes as it did, else built (and cached when the path is writable). */
export async function buildPage(cachePath: string | undefined = DEFAULT_BUNDLE_CACHE): Promise<PageBundle> {
  const cached = cachePath ? await fromCache(cachePath) : undefined;
  if (cached) return cached;
  // The lock file too: a dependency updated may resolve to other files than the ones hashed.
  const inputs = new Set<string>(["package.json", "package-lock.json"]);
  const out = {} as PageBundle;
  await Promise.all(
    (Object.keys(entries) as Array<keyof PageBundle>).map(async (name) => {
      const result = await build({ ...options, entryPoints: [dir + entries[name]], outfile: name });
      for (const f of result.outputFiles ?? []) (out as Record<string, string>)[f.path.endsWith(".map") ? `${name}.map` : name] = f.text;
      for (const input of Object.keys(result.metafile?.inputs ?? {})) inputs.add(input);
    }),
  );
  if (cachePath) await toCache(cachePath, out, [...inputs]);
  return out;
}

async function fromCache(cachePath: string): Promise<PageBundle | undefined> {
  try {
    const cached = JSON.parse(await readFile(cachePath, "utf8")) as Cached;
    if (cached.key !== cacheKey || !cached.files || !cached.inputs) return undefined;
    const same = await Promise.all(Object.entries(cached.inputs).map(async ([path, hash]) => sha256(await readFile(resolve(root, path))) === hash));
    return same.every(Boolean) && Object.keys(entries).every((name) => typeof (cached.files as Record<string, unknown>)[name] === "string") ? cached.files : undefined;
  } catch {
    // None yet, unreadable, or an input gone: build.
    return undefined;
  }
}

async function toCache(cachePath: string, files: PageBundle, inputs: string[]): Promise<void> {
  try {
    const hashes = Object.fromEntries(await Promise.all(inputs.map(async (path) => [path, sha256(await readFile(resolve(root, path)))] as const)));
    const cached: Cached = { key: cacheKey, inputs: hashes, files };
    // The user's own cache directory (0700): what it holds is served to Chrome as code.
    await mkdir(resolve(cachePath, ".."), { recursive: true, mode: 0o700 });
    // Atomic: hosts starting together on one machine each write the same content whole.
    const tmp = `${cachePath}.${process.pid}.tmp`;
    await writeFile(tmp, JSON.stringify(cached), { mode: 0o600 });
    await rename(tmp, cachePath);
  } catch {
    // A read-only install (an image's node_modules): every start builds, as without a cache.
  }
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  const bundle = await buildPage(undefined);
  for (const [name, text] of Object.entries(bundle)) console.log(`${name}: ${(text.length / 1024).toFixed(0)} KiB`);
}
