/**
 * Preloaded into a host process by a test (spawnHostCli's `preload`): on SIGUSR2 the process gets
 * a real bug, as the code would produce one: INJECT_FAULT=exception throws from a timer (an
 * uncaught exception), INJECT_FAULT=rejection rejects a promise nobody handles.
 */
process.on("SIGUSR2", () => {
  if (process.env.INJECT_FAULT === "rejection") void Promise.reject(new Error("injected fault: a rejection nobody handles"));
  else
    setTimeout(() => {
      throw new Error("injected fault: an exception nobody catches");
    });
});
