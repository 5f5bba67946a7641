import { defineConfig } from "vitest/config";

// Browser e2e files share two cores with Chrome's real-time audio threads: one file at a time,
// or audio starves and measurements turn flaky.
export default defineConfig({
  test: {
    include: ["test/**/*.test.ts"],
    fileParallelism: false,
    testTimeout: 60_000,
    hookTimeout: 60_000,
    // The JSON report lets CI print one plain "N passed, N failed" line at the end.
    reporters: ["default", "json"],
    outputFile: { json: ".cache/test-results.json" },
  },
});
