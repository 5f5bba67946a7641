/**
 * The page's audio graph while it is being built: the host's `configure` starts it (the host asks
 * for it once registered), a second `configure` keeps it or replaces it, and a command that needs
 * audio (an answer, a call) waits for it instead of failing while it is still building.
 */
import { sameGraph, type Command, type GraphSettings } from "../bridge/page-protocol.ts";

/** Registration, pings and hang-ups need no audio; a call's media does. */
const NEEDS_GRAPH: ReadonlySet<Command["type"]> = new Set(["answer", "call", "transfer"]);

export class GraphSlot<G> {
  private building: { settings: GraphSettings; graph: Promise<G>; failed: boolean } | undefined;
  private built: G | undefined;

  constructor(private readonly create: (settings: GraphSettings) => Promise<G>) {}

  /** The graph for these settings: the one already built or building when they match (and it has not failed), else a new one. */
  build(settings: GraphSettings): Promise<G> {
    if (this.building && !this.building.failed && sameGraph(this.building.settings, settings)) return this.building.graph;
    const graph = this.create(settings);
    const entry = { settings, graph, failed: false };
    this.building = entry;
    this.built = undefined;
    graph.then(
      (g) => {
        if (this.building === entry) this.built = g;
      },
      () => (entry.failed = true),
    );
    return graph;
  }

  /** The built graph, for code that runs only once a call has media (so after ready()). */
  get current(): G {
    if (!this.built) throw new Error("audio graph not configured");
    return this.built;
  }

  /** Resolves once the graph is built (rejects with its error); rejects at once if none was asked for. */
  ready(): Promise<G> {
    return this.building?.graph ?? Promise.reject(new Error("audio graph not configured"));
  }

  /** Whether `cmd` must wait for ready() before it runs. */
  static needsGraph(cmd: Command): boolean {
    return NEEDS_GRAPH.has(cmd.type);
  }
}
