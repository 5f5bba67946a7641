/**
 * The building blocks of configuration checking: one zod schema maker per kind of value, each
 * turning a bad value into one sentence that says what to set, never echoing a secret.
 */
import { existsSync, statSync } from "node:fs";
import { z } from "zod";

/** "+1650*, +44*" → anchored regexes; `*` matches any run of characters. */
export function patterns(list: string | undefined): RegExp[] {
  return (list ?? "")
    .split(",")
    .map((p) => p.trim())
    .filter(Boolean)
    .map((p) => new RegExp(`^${p.replace(/[.+?^${}()|[\]\\]/g, "\\$&").replace(/\*/g, ".*")}$`));
}

const CONSOLE_HINT = "copy it from your app in the RingCentral developer console";
const BOOL_VALUES: Record<string, boolean> = { true: true, "1": true, yes: true, false: false, "0": false, no: false };
export const MAX_TIMER_MS = 2_147_483_647; // setTimeout fires at once beyond this

export function urlWith(protocols: readonly string[], problem: (input: string) => string) {
  return z.string().refine(
    (s) => {
      try {
        return protocols.includes(new URL(s).protocol);
      } catch {
        return false;
      }
    },
    { error: (iss) => problem(String(iss.input)) },
  );
}

export function boolean(name: string) {
  return z
    .string()
    .refine((s) => Object.hasOwn(BOOL_VALUES, s.toLowerCase()), {
      error: (iss) => `must be true or false (or 1/0, yes/no), got "${String(iss.input)}": set ${name}=true or ${name}=false`,
    })
    .transform((s) => BOOL_VALUES[s.toLowerCase()]);
}

export function integer(min: number, max: number, range: string, example: string) {
  return z
    .string()
    .refine((s) => /^\d+$/.test(s) && Number(s) >= min && Number(s) <= max, {
      error: (iss) => `must be ${range}, got "${String(iss.input)}": ${example}`,
    })
    .transform(Number);
}

export function oneOf<const T extends string>(values: readonly T[], hint: string) {
  return z
    .string()
    .transform((s) => s.toLowerCase())
    .refine((s): s is T => (values as readonly string[]).includes(s), {
      error: (iss) => `must be ${values.length === 2 ? values.join(" or ") : `one of ${values.join(", ")}`}, got "${String(iss.input)}": ${hint}`,
    });
}

// Names the common http(s) mistake without echoing anything: a pipeline URL may hold a token.
export function describeScheme(url: string): string {
  try {
    const { protocol } = new URL(url);
    return protocol === "http:" || protocol === "https:" ? `uses ${protocol}//` : "has another scheme";
  } catch {
    return "is not a URL";
  }
}

// Kind of path (file or directory), or undefined when it is absent or unreadable.
export function pathKind(p: string): "file" | "dir" | "other" | undefined {
  try {
    if (!existsSync(p)) return undefined;
    const st = statSync(p);
    return st.isFile() ? "file" : st.isDirectory() ? "dir" : "other";
  } catch {
    return undefined;
  }
}

export const clientId = z
  .string({ error: `is not set: ${CONSOLE_HINT}` })
  .regex(/^[A-Za-z0-9_-]+$/, { error: `is set but is not a valid client ID (letters, digits, - and _ only): ${CONSOLE_HINT}` });
export const clientSecret = z
  .string({ error: `is not set: ${CONSOLE_HINT}` })
  .regex(/^\S+$/, { error: `is set but contains whitespace: ${CONSOLE_HINT}` });
export const jwt = z
  .string({ error: "is not set: create a JWT credential in the RingCentral developer console and paste it here" })
  .regex(/^[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+$/, {
    error: "is set but does not look like a JWT (three base64url parts separated by dots): paste the whole JWT credential from the RingCentral developer console",
  });

export const serverUrl = urlWith(
  ["http:", "https:"],
  (s) => `must be an http(s) URL, got "${s}": use https://platform.ringcentral.com (production) or https://platform.devtest.ringcentral.com (sandbox)`,
)
  // Trailing slashes would double up when API paths are appended.
  .transform((s) => s.replace(/\/+$/, ""))
  .default("https://platform.ringcentral.com");

// Standard Webhooks: whsec_ and the key in base64, 24 to 64 bytes. Never echoed: it is the key.
export const eventsSecret = z.string().refine(
  (s) => {
    const m = /^whsec_([A-Za-z0-9+/]+={0,2})$/.exec(s);
    if (!m || m[1].length % 4 !== 0) return false;
    const bytes = Buffer.from(m[1], "base64").length;
    return bytes >= 24 && bytes <= 64;
  },
  { error: "is set but is not a Standard Webhooks secret (whsec_ followed by 24-64 bytes in base64): e.g. whsec_$(openssl rand -base64 32)" },
);
