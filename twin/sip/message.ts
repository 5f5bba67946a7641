/**
 * SIP messages as the WebPhone's parser needs them (docs/WIRE.md §1.2): CRLF lines,
 * `Name: value` headers, one Via, body after the first blank line.
 */
export interface SipMessage {
  /** Request line (`INVITE sip:… SIP/2.0`) or status line (`SIP/2.0 200 OK`). */
  startLine: string;
  headers: Array<[string, string]>;
  body: string;
}

export function parseSip(text: string): SipMessage {
  const split = text.indexOf("\r\n\r\n");
  const head = split === -1 ? text : text.slice(0, split);
  const body = split === -1 ? "" : text.slice(split + 4);
  const [startLine, ...lines] = head.split("\r\n");
  const headers: Array<[string, string]> = [];
  for (const line of lines) {
    const colon = line.indexOf(":");
    if (colon <= 0) throw new Error(`malformed SIP header line: ${JSON.stringify(line.slice(0, 80))}`);
    headers.push([line.slice(0, colon).trim(), line.slice(colon + 1).trim()]);
  }
  if (!startLine) throw new Error("empty SIP message");
  return { startLine, headers, body };
}

export function serializeSip(msg: SipMessage): string {
  const lines = [msg.startLine];
  let hasLength = false;
  for (const [name, value] of msg.headers) {
    if (name.toLowerCase() === "content-length") hasLength = true;
    lines.push(`${name}: ${value}`);
  }
  if (!hasLength) lines.push(`Content-Length: ${Buffer.byteLength(msg.body)}`);
  return `${lines.join("\r\n")}\r\n\r\n${msg.body}`;
}

export function header(msg: SipMessage, name: string): string | undefined {
  const lower = name.toLowerCase();
  // Last one wins, as in the WebPhone's parser.
  for (let i = msg.headers.length - 1; i >= 0; i--) if (msg.headers[i][0].toLowerCase() === lower) return msg.headers[i][1];
  return undefined;
}

export const isResponse = (msg: SipMessage): boolean => msg.startLine.startsWith("SIP/2.0 ");
export const statusOf = (msg: SipMessage): number => Number(msg.startLine.split(" ")[1]);
export const methodOf = (msg: SipMessage): string =>
  isResponse(msg) ? (header(msg, "CSeq") ?? "").trim().split(/\s+/)[1] ?? "" : msg.startLine.split(" ")[0];
export const cseqNumber = (msg: SipMessage): number => Number((header(msg, "CSeq") ?? "").trim().split(/\s+/)[0]);
export const callIdOf = (msg: SipMessage): string => header(msg, "Call-ID") ?? "";

/**
 * A response to `req`, copying Via, From, To, Call-ID and CSeq as SIP requires, each under the
 * name the request spelled it with (the WebPhone matches some of them by exact name).
 */
export function responseTo(
  req: SipMessage,
  status: number,
  reason: string,
  extra: Array<[string, string]> = [],
  body = "",
  toTag?: string,
): SipMessage {
  const copy: Array<[string, string]> = [];
  for (const name of ["Via", "From", "To", "Call-ID", "CSeq"]) {
    let value = header(req, name);
    if (value === undefined) continue;
    const spelled = [...req.headers].reverse().find(([n]) => n.toLowerCase() === name.toLowerCase())![0];
    if (name === "To" && toTag && !/;tag=/.test(value)) value = `${value};tag=${toTag}`;
    copy.push([spelled, value]);
  }
  return { startLine: `SIP/2.0 ${status} ${reason}`, headers: [...copy, ...extra], body };
}

export const tagOf = (addr: string | undefined): string | undefined => addr?.match(/;tag=([^;]*)/)?.[1];
/** The user part of `<sip:user@host>` or a bare `sip:user@host`. */
export const userOf = (addr: string | undefined): string | undefined => addr?.match(/sip:([^@>;]+)@/)?.[1];
