/**
 * deploy/ checked, without a cluster: every Kubernetes manifest against the API's own schemas
 * (kubernetes-models) with unknown fields refused, the compose file parsed, and every setting they
 * name one the host reads (host/config.ts), so manifests, docs and code cannot drift apart.
 */
import { readFileSync, readdirSync } from "node:fs";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { Deployment } from "kubernetes-models/apps/v1";
import { ConfigMap, Namespace, Secret, Service } from "kubernetes-models/v1";
import { PodDisruptionBudget } from "kubernetes-models/policy/v1";
import { validate as deploymentSchema } from "kubernetes-models/_schemas/IoK8sApiAppsV1Deployment";
import { validate as configMapSchema } from "kubernetes-models/_schemas/IoK8sApiCoreV1ConfigMap";
import { validate as namespaceSchema } from "kubernetes-models/_schemas/IoK8sApiCoreV1Namespace";
import { validate as secretSchema } from "kubernetes-models/_schemas/IoK8sApiCoreV1Secret";
import { validate as serviceSchema } from "kubernetes-models/_schemas/IoK8sApiCoreV1Service";
import { validate as pdbSchema } from "kubernetes-models/_schemas/IoK8sApiPolicyV1PodDisruptionBudget";
import { parseAllDocuments, parse } from "yaml";
import { describe, expect, it } from "vitest";
import { settingNames } from "../host/config.ts";
import { MAX_INSTANCES_PER_EXTENSION } from "../host/cluster/cluster.ts";

const root = fileURLToPath(new URL("..", import.meta.url));
const k8sDir = join(root, "deploy/kubernetes");
const read = (path: string) => readFileSync(join(root, path), "utf8");

type Obj = Record<string, unknown>;
type SchemaFn = (data: unknown) => boolean;
const KINDS: Record<string, { model: new (data: never) => { validate(): void }; schema: SchemaFn }> = {
  Deployment: { model: Deployment as never, schema: deploymentSchema as SchemaFn },
  ConfigMap: { model: ConfigMap as never, schema: configMapSchema as SchemaFn },
  Namespace: { model: Namespace as never, schema: namespaceSchema as SchemaFn },
  Secret: { model: Secret as never, schema: secretSchema as SchemaFn },
  Service: { model: Service as never, schema: serviceSchema as SchemaFn },
  PodDisruptionBudget: { model: PodDisruptionBudget as never, schema: pdbSchema as SchemaFn },
};

/**
 * Fields no schema knows. The generated validators read each property their schema names (and
 * every key of a map), so a field that none of them read is one the API server would drop or
 * refuse (`kubectl apply --validate=strict`): a typo such as `readinessprobe` is caught.
 */
function unknownFields(doc: Obj, schema: SchemaFn): string[] {
  const read = new Set<string>();
  const wrap = (value: unknown, path: string): unknown => {
    if (value === null || typeof value !== "object") return value;
    return new Proxy(value as Obj, {
      get(target, key) {
        const v = Reflect.get(target, key);
        if (typeof key !== "string" || !Object.hasOwn(target, key)) return v;
        read.add(`${path}/${key}`);
        return wrap(v, `${path}/${key}`);
      },
    });
  };
  schema(wrap(doc, ""));
  const all: string[] = [];
  const walk = (value: unknown, path: string) => {
    if (value === null || typeof value !== "object") return;
    for (const [k, v] of Object.entries(value)) {
      all.push(`${path}/${k}`);
      walk(v, `${path}/${k}`);
    }
  };
  walk(doc, "");
  const unknown = all.filter((p) => !read.has(p));
  // The outermost unknown field only, not each field inside it.
  return unknown.filter((p) => !unknown.some((q) => p.startsWith(`${q}/`)));
}

function manifests(): Array<{ file: string; doc: Obj }> {
  return readdirSync(k8sDir)
    .filter((f) => f.endsWith(".yaml") && f !== "kustomization.yaml")
    .flatMap((file) => parseAllDocuments(readFileSync(join(k8sDir, file), "utf8")).map((d) => ({ file, doc: d.toJS() as Obj })));
}

function check(doc: Obj): string[] {
  const kind = KINDS[String(doc.kind)];
  if (!kind) return [`kind ${String(doc.kind)} is not one this test knows`];
  try {
    new kind.model(doc as never).validate();
  } catch (err) {
    return [(err as Error).message];
  }
  return unknownFields(doc, kind.schema).map((p) => `unknown field ${p}`);
}

const docsOf = (kind: string) => manifests().filter((m) => m.doc.kind === kind);
const hostDeployment = () => docsOf("Deployment").find((m) => (m.doc.metadata as Obj).name === "rc-voice-host")!.doc as unknown as Deployment;
const configMapData = () => (docsOf("ConfigMap")[0].doc.data ?? {}) as Record<string, string>;
type Compose = { services: Record<string, Obj>; volumes?: Obj };
const composeFile = (file = "deploy/compose.yaml") => parse(read(file), { merge: true }) as Compose;

/**
 * `docker compose -f a -f b` as the Compose spec merges (no engine here): mappings merge by key,
 * `ports` and `volumes` append, other values are replaced; `extends` copies a service of a file
 * first, then applies what the extending service sets.
 */
function mergeYaml(a: unknown, b: unknown, key = ""): unknown {
  if (Array.isArray(a) && Array.isArray(b)) {
    if (key === "ports") return [...new Set([...a, ...b])];
    // Volumes merge by where they are mounted: the later file's mount at a path replaces the earlier's.
    if (key === "volumes") return [...new Map([...a, ...b].map((v: string) => [v.split(":")[1], v])).values()];
    return b;
  }
  if (a && b && typeof a === "object" && typeof b === "object" && !Array.isArray(a) && !Array.isArray(b)) {
    const out: Obj = { ...(a as Obj) };
    for (const [k, v] of Object.entries(b as Obj)) out[k] = k in out ? mergeYaml(out[k], v, k) : v;
    return out;
  }
  return b;
}
function composeMerged(files: string[]): Compose {
  let merged: Compose = { services: {} };
  for (const file of files) {
    const doc = composeFile(file);
    for (const [name, svc] of Object.entries(doc.services)) {
      const ext = svc.extends as { file: string; service: string } | undefined;
      if (!ext) continue;
      const { extends: _, ...own } = svc;
      doc.services[name] = mergeYaml(composeFile(`deploy/${ext.file}`).services[ext.service], own) as Obj;
    }
    merged = mergeYaml(merged, doc) as Compose;
  }
  return merged;
}

describe("deploy/kubernetes", () => {
  it("every manifest is valid for its kind, with no unknown field", () => {
    const all = manifests();
    expect(all.map((m) => m.doc.kind).sort()).toEqual(["ConfigMap", "Deployment", "Deployment", "Namespace", "PodDisruptionBudget", "Secret", "Service", "Service"]);
    for (const { file, doc } of all) expect(check(doc), `${file} ${String(doc.kind)}`).toEqual([]);
  });

  it("the strict check can fail: a misspelt field, a wrong type, a missing one", () => {
    const d = structuredClone(hostDeployment()) as unknown as Obj & { spec: { template: { spec: { containers: Obj[] } } } };
    d.spec.template.spec.containers[0].readinessprobe = { httpGet: { path: "/ready", port: 8080 } };
    expect(check(d)).toEqual(["unknown field /spec/template/spec/containers/0/readinessprobe"]);
    const e = structuredClone(hostDeployment()) as unknown as Obj & { spec: Obj };
    e.spec.replicas = "two";
    expect(check(e).join()).toMatch(/replicas/);
    const f = structuredClone(hostDeployment()) as unknown as Obj & { spec: Obj };
    delete f.spec.selector;
    expect(check(f).join()).toMatch(/selector/);
  });

  it("kustomization.yaml lists every manifest but the example Secret, and only files that exist", () => {
    const k = parse(read("deploy/kubernetes/kustomization.yaml")) as { resources: string[] };
    const files = readdirSync(k8sDir).filter((f) => f.endsWith(".yaml") && f !== "kustomization.yaml" && f !== "secret.example.yaml");
    expect([...k.resources].sort()).toEqual(files.sort());
  });

  it("readiness is /ready, liveness /health, and the grace period outlasts the drain", () => {
    const d = hostDeployment();
    const pod = d.spec!.template.spec!;
    const c = pod.containers[0];
    expect(c.readinessProbe?.httpGet?.path).toBe("/ready");
    expect(c.livenessProbe?.httpGet?.path).toBe("/health");
    expect(c.lifecycle?.preStop).toBeUndefined();
    const drainS = Number(configMapData().DRAIN_TIMEOUT_S);
    // The drain, then up to 10 s of stopping (host/shutdown.ts), then a margin.
    expect(pod.terminationGracePeriodSeconds).toBeGreaterThanOrEqual(drainS + 20);
    expect(c.resources?.requests?.memory).toBeDefined();
    expect(c.resources?.requests?.cpu).toBeDefined();
  });

  it("never more pods than an extension has instances, even during a rolling upgrade", () => {
    const spec = hostDeployment().spec!;
    const surge = Number(spec.strategy?.rollingUpdate?.maxSurge ?? 0);
    expect((spec.replicas ?? 1) + surge).toBeLessThanOrEqual(MAX_INSTANCES_PER_EXTENSION);
  });

  it("names only settings the host reads (ConfigMap, Secret)", () => {
    const known = new Set(settingNames());
    const secret = docsOf("Secret")[0].doc.stringData as Record<string, string>;
    for (const name of [...Object.keys(configMapData()), ...Object.keys(secret)]) expect(known, name).toContain(name);
    // The settings commented out in the example Secret too.
    for (const [, name] of read("deploy/kubernetes/secret.example.yaml").matchAll(/^\s*#\s*([A-Z][A-Z0-9_]+):/gm)) expect(known, name).toContain(name);
  });
});

describe("deploy/compose.yaml and compose.cluster.yaml", () => {
  const known = () => new Set(settingNames());
  const grace = (svc: Obj) => Number(/^(\d+)s$/.exec(String(svc.stop_grace_period))![1]);

  it("one host, the example pipeline, the twin as a profile; state on volumes; only settings the host reads", () => {
    const { services, volumes } = composeFile();
    expect(Object.keys(services).sort()).toEqual(["host", "pipeline", "twin"]);
    expect(services.twin.profiles).toEqual(["twin"]);
    const env = services.host.environment as Record<string, string>;
    for (const name of Object.keys(env)) expect(known(), name).toContain(name);
    expect(env.PIPELINE_URL).toBe("ws://127.0.0.1:8765");
    expect(env.REDIS_URL).toBeUndefined();
    // One namespace: the host and the twin reach the pipeline on loopback; the host's port is published.
    for (const name of ["host", "twin"]) expect(services[name].network_mode).toBe("service:pipeline");
    expect(services.pipeline.ports).toEqual([`127.0.0.1:${env.HTTP_PORT}:${env.HTTP_PORT}`]);
    // sipInfo and recordings live on named volumes mounted where the settings point (WORKDIR /app).
    const mounts = Object.fromEntries((services.host.volumes as string[]).map((v) => v.split(":")).map(([vol, at]) => [at, vol]));
    expect(mounts["/app/.cache"]).toBeDefined();
    expect(env.SIP_INFO_CACHE.startsWith(".cache/")).toBe(true);
    expect(mounts[`/app/${env.RECORDINGS_DIR}`]).toBeDefined();
    for (const vol of Object.values(mounts)) expect(Object.keys(volumes ?? {})).toContain(vol);
    // The pipeline service runs an example that exists; the twin's entry exists.
    expect(read(String((services.pipeline.command as string[])[3]))).toMatch(/startEchoPipeline/);
    expect(read("deploy/twin.ts")).toMatch(/startTwin/);
    // docker stop waits out the drain.
    expect(grace(services.host)).toBeGreaterThanOrEqual(Number(env.DRAIN_TIMEOUT_S) + 20);
    for (const [, name] of read("deploy/twin.env").matchAll(/^([A-Z][A-Z0-9_]+)=/gm)) expect(known(), name).toContain(name);
  });

  it("with compose.cluster.yaml: two hosts on one Redis, each its own id, port and sipInfo cache", () => {
    const { services } = composeMerged(["deploy/compose.yaml", "deploy/compose.cluster.yaml"]);
    expect(Object.keys(services).sort()).toEqual(["host", "host-b", "pipeline", "redis", "twin"]);
    const envs = ["host", "host-b"].map((s) => services[s].environment as Record<string, string>);
    for (const env of envs) {
      for (const name of Object.keys(env)) expect(known(), name).toContain(name);
      expect(env.REDIS_URL).toMatch(/^redis:\/\/127\.0\.0\.1:6379/);
      expect(env.PIPELINE_URL).toBe("ws://127.0.0.1:8765");
    }
    for (const key of ["HTTP_PORT", "HOST_ID", "SIP_INFO_CACHE"]) expect(new Set(envs.map((e) => e[key])).size, key).toBe(2);
    for (const name of ["host", "host-b"]) {
      expect((services[name].depends_on as Obj).redis).toEqual({ condition: "service_healthy" });
      expect(services[name].network_mode).toBe("service:pipeline");
      expect(grace(services[name])).toBeGreaterThanOrEqual(Number(envs[0].DRAIN_TIMEOUT_S) + 20);
    }
    expect(services.redis.network_mode).toBe("service:pipeline");
    // Each host its own .cache (sipInfo, the events' spool) and recordings.
    const mounts = ["host", "host-b"].map((s) => Object.fromEntries((services[s].volumes as string[]).map((v) => v.split(":")).map(([vol, at]) => [at, vol])));
    for (const at of ["/app/.cache", "/app/recordings"]) expect(new Set(mounts.map((m) => m[at])).size, at).toBe(2);
    expect((services.pipeline.ports as string[]).sort()).toEqual(envs.map((e) => `127.0.0.1:${e.HTTP_PORT}:${e.HTTP_PORT}`).sort());
  });

  it("the merge the check relies on can fail: a service the overlay forgets to extend lacks the host's settings", () => {
    const merged = mergeYaml({ services: { host: { environment: { A: "1" } } } }, { services: { "host-b": { environment: { HTTP_PORT: "8081" } } } }) as Compose;
    expect((merged.services["host-b"].environment as Obj).A).toBeUndefined();
    expect((mergeYaml({ ports: ["a"] }, { ports: ["b"] }) as Obj).ports).toEqual(["a", "b"]);
    expect((mergeYaml({ volumes: ["x:/p", "y:/q"] }, { volumes: ["z:/p"] }, "") as Obj).volumes).toEqual(["z:/p", "y:/q"]);
  });
});

describe("docs name only real settings", () => {
  it("docs/DEPLOY.md and .env.example", () => {
    const known = new Set(settingNames());
    const named = [...read("docs/DEPLOY.md").matchAll(/`([A-Z][A-Z0-9]+(?:_[A-Z0-9]+)+)(?:=[^`]*)?`/g)].map((m) => m[1]);
    expect(named.length).toBeGreaterThan(5);
    for (const name of named) expect(known, `docs/DEPLOY.md names ${name}`).toContain(name);
    expect(read(".env.example")).toMatch(/^# ?DRAIN_TIMEOUT_S=|^DRAIN_TIMEOUT_S=/m);
  });
});
