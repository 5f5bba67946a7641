/**
 * Many hosts as one (docs/twin.md, "Forking"): several instances registered on one extension,
 * each a raw SIP client; the twin rings them all at once, the first 200 wins and the others are
 * CANCELled. A werift peer stands in for a page's media so RTP can be counted at each leg.
 */
import { describe, expect, it } from "vitest";
import type { TelephonySessionEventBody } from "../twin/telephony.ts";
import { until, useFaultHarness } from "./support/fault-harness.ts";
import { callIdOf, inDialog, registerHosts, type CallJson } from "./support/fork-legs.ts";
import { answerAsPage } from "./support/werift-page.ts";

const { harness, control, client, sipInfo, registrations } = useFaultHarness();

const place = async (body: Record<string, unknown> = {}) => {
  const res = await control<{ callId: string; telephonySessionId: string }>("/calls", { method: "POST", body: { from: "+16506666666", play: "tone:440", ...body } });
  expect(res.status).toBe(201);
  return res.body;
};
const callJson = async (id: string) => (await control<CallJson>(`/calls/${id}`)).body;
const ended = (id: string) => until(async () => ((await callJson(id)).state === "ended" ? callJson(id) : undefined), `call ${id} to end`);
const hosts = (...ids: string[]) => registerHosts(client, sipInfo(), ids);
/** Each leg's outcome, by the instance it rang (legs go out newest registration first). */
const outcomes = (call: CallJson) => Object.fromEntries(call.legs.map((l) => [l.instanceId, l.outcome]));
const connectionOf = async (instanceId: string) => (await registrations()).find((r) => r.instanceId === instanceId)!.connectionId;

describe("forking: an inbound call rings every registered instance", () => {
  it("three instances get three INVITEs (own Call-ID and offer each); the first 200 wins, the others are CANCELled; media reaches the winner", async () => {
    const [a, b, c] = await hosts("fork-a", "fork-b", "fork-c");
    const events: TelephonySessionEventBody[] = [];
    const onEvent = (e: TelephonySessionEventBody) => void events.push(e);
    harness().twin.telephony.on("event", onEvent);
    try {
      const placed = await place();
      const invites = await Promise.all([a, b, c].map((h) => h.invite()));
      const callIds = invites.map(callIdOf);
      expect(new Set(callIds).size).toBe(3);
      expect(new Set(invites.map((i) => i.body.match(/^a=ice-ufrag:(\S+)/m)![1])).size).toBe(3);
      for (const i of invites) expect(i.headers).toContainEqual(["p-rc-api-ids", expect.stringContaining(`session-id=${placed.telephonySessionId}`)]);
      [a, b, c].forEach((h, n) => h.reply(invites[n], 180, "Ringing"));
      const ringing = await callJson(placed.callId);
      expect(ringing.state).toBe("ringing");
      expect([...ringing.sipCallIds].sort()).toEqual([...callIds].sort());
      const legOf = (instanceId: string) => ringing.legs.find((l) => l.instanceId === instanceId)!;
      for (const [n, h] of [a, b, c].entries()) {
        expect(legOf(h.instanceId)).toMatchObject({ sipCallId: callIds[n], connectionId: await connectionOf(h.instanceId), outcome: "ringing", status: null });
      }

      const page = await answerAsPage(b.client, invites[1]);
      try {
        await b.client.next(inDialog("ACK", invites[1]));
        // One leg keeps the WebPhone's habit (200 to CANCEL, no 487), the other answers 487 too.
        await Promise.all([a.cancelled(invites[0], true), c.cancelled(invites[2])]);
        await until(() => page.arrivals.length > 25, "the caller's RTP at the winning leg");
        const call = await callJson(placed.callId);
        expect(call).toMatchObject({ state: "answered", sip: { connectionId: await connectionOf("fork-b") } });
        expect(outcomes(call)).toEqual({ "fork-a": "cancelled", "fork-b": "answered", "fork-c": "cancelled" });
        await until(async () => (await callJson(placed.callId)).legs.find((l) => l.instanceId === "fork-c")!.status === 487, "fork-c's 487 on its leg");
        // Three legs rang, but the party is one: Setup, Proceeding, Answered, each once.
        const mine = () => events.filter((e) => e.telephonySessionId === placed.telephonySessionId).map((e) => e.parties[0].status.code);
        expect(mine()).toEqual(["Setup", "Proceeding", "Answered"]);

        const hangup = control(`/calls/${placed.callId}`, { method: "DELETE" });
        b.client.reply(await b.client.next(inDialog("BYE", invites[1])), 200, "OK");
        expect((await hangup).body).toMatchObject({ endReason: "caller-hangup" });
        expect(mine()).toEqual(["Setup", "Proceeding", "Answered", "Disconnected"]);
      } finally {
        await page.close();
      }
    } finally {
      harness().twin.telephony.off("event", onEvent);
    }
  });

  it("a 200 that comes after another leg won is ACKed, then hung up with BYE, and gets no media", async () => {
    const [a, b] = await hosts("late-a", "late-b");
    const placed = await place();
    const [ia, ib] = await Promise.all([a.invite(), b.invite()]);
    const winner = await answerAsPage(a.client, ia);
    await until(async () => (await callJson(placed.callId)).state === "answered", "the first answer");
    // b answered just as the CANCEL crossed its 200: 200 to the INVITE, then 200 to the CANCEL.
    const cancel = await b.client.next(inDialog("CANCEL", ib));
    const late = await answerAsPage(b.client, ib);
    b.client.reply(cancel, 200, "OK");
    try {
      expect((await b.client.next(inDialog("ACK", ib))).startLine).toMatch(/^ACK /);
      const bye = await b.client.next(inDialog("BYE", ib));
      b.client.reply(bye, 200, "OK");
      const lateAtMs = Date.now();
      await until(() => winner.packetsSince(lateAtMs) > 25, "half a second of RTP at the winner");
      expect(late.arrivals).toHaveLength(0);
      const call = await callJson(placed.callId);
      expect(outcomes(call)).toEqual({ "late-a": "answered", "late-b": "late-answer" });
      expect(call.sip.connectionId).toBe(await connectionOf("late-a"));
      const hangup = control(`/calls/${placed.callId}`, { method: "DELETE" });
      a.client.reply(await a.client.next(inDialog("BYE", ia)), 200, "OK");
      expect((await hangup).body).toMatchObject({ endReason: "caller-hangup" });
    } finally {
      await Promise.all([winner.close(), late.close()]);
    }
  });

  it("a 603 from one leg ends the whole call; so does a decline (MESSAGE Cmd 12) from one instance", async () => {
    const [a, b, c] = await hosts("dec-a", "dec-b", "dec-c");
    const placed = await place();
    const invites = await Promise.all([a, b, c].map((h) => h.invite()));
    b.reply(invites[1], 603, "Decline");
    expect((await b.client.next(inDialog("ACK", invites[1]))).startLine).toMatch(/^ACK /);
    await Promise.all([a.cancelled(invites[0]), c.cancelled(invites[2])]);
    const call = await ended(placed.callId);
    expect(call.endReason).toBe("declined");
    expect(outcomes(call)).toEqual({ "dec-a": "cancelled", "dec-b": "declined", "dec-c": "cancelled" });
    expect(harness().twin.telephony.get(placed.telephonySessionId)!.parties[0].status).toMatchObject({ code: "Disconnected", reason: "Rejected" });

    // The WebPhone's decline(): MESSAGE Cmd 12, then it waits for the CANCEL of its own INVITE.
    const second = await place();
    const again = await Promise.all([a, b, c].map((h) => h.invite()));
    const message = {
      startLine: "MESSAGE sip:#1000016@sip.twin.invalid:5060 SIP/2.0",
      headers: [
        ["Via", "SIP/2.0/WSS raw.invalid;branch=z9hG4bK-decline"],
        ["From", `${again[0].headers.find(([n]) => n === "To")![1]};tag=dec`],
        ["To", again[0].headers.find(([n]) => n === "From")![1]],
        ["Call-Id", callIdOf(again[0])],
        ["CSeq", `${a.client.nextCseq()} MESSAGE`],
        ["Content-Type", "x-rc/agent"],
      ] as Array<[string, string]>,
      body: `<Msg><Hdr SID="1" Req="r" From="x" To="y" Cmd="12"/><Bdy Cln="${sipInfo().authorizationId}"/></Msg>`,
    };
    expect((await a.client.request(message)).startLine).toBe("SIP/2.0 200 OK");
    await Promise.all([a.cancelled(again[0], true), b.cancelled(again[1], true), c.cancelled(again[2], true)]);
    const declined = await ended(second.callId);
    expect(declined.endReason).toBe("declined");
    expect(outcomes(declined)).toMatchObject({ "dec-a": "declined", "dec-b": "cancelled", "dec-c": "cancelled" });
  });

  it("486 and 480 drop only their own leg; when every leg is busy the call fails", async () => {
    const [a, b, c] = await hosts("busy-a", "busy-b", "busy-c");
    const placed = await place();
    const invites = await Promise.all([a, b, c].map((h) => h.invite()));
    a.reply(invites[0], 486, "Busy Here");
    b.reply(invites[1], 480, "Temporarily Unavailable");
    await Promise.all([a.client.next(inDialog("ACK", invites[0])), b.client.next(inDialog("ACK", invites[1]))]);
    const still = await callJson(placed.callId);
    expect(still.state).toBe("ringing");
    expect(outcomes(still)).toEqual({ "busy-a": "busy", "busy-b": "no-answer", "busy-c": "ringing" });
    const page = await answerAsPage(c.client, invites[2]);
    try {
      await until(() => page.arrivals.length > 10, "RTP at the leg that answered");
      expect((await callJson(placed.callId)).state).toBe("answered");
      const hangup = control(`/calls/${placed.callId}`, { method: "DELETE" });
      c.client.reply(await c.client.next(inDialog("BYE", invites[2])), 200, "OK");
      await hangup;
    } finally {
      await page.close();
    }

    const second = await place();
    const again = await Promise.all([a, b, c].map((h) => h.invite()));
    [a, b, c].forEach((h, n) => h.reply(again[n], 486, "Busy Here"));
    const call = await ended(second.callId);
    expect(call.endReason).toBe("busy");
    expect(Object.values(outcomes(call))).toEqual(["busy", "busy", "busy"]);
    expect(harness().twin.telephony.get(second.telephonySessionId)!.parties[0].status).toMatchObject({ code: "Disconnected", reason: "Busy" });
  });
});

describe("registered instances: the limit of 5, the same instance twice, expiry and un-REGISTER", () => {
  it("refuses a sixth instance with 603 Too Many Contacts; the five keep working and all ring", async () => {
    const five = await hosts("lim-1", "lim-2", "lim-3", "lim-4", "lim-5");
    const sixth = await client();
    expect((await sixth.register(sipInfo(), { instanceId: "lim-6" })).startLine).toBe("SIP/2.0 603 Too Many Contacts");
    expect((await registrations()).map((r) => r.instanceId).sort()).toEqual(["lim-1", "lim-2", "lim-3", "lim-4", "lim-5"]);
    // A registered instance may still refresh.
    expect((await five[0].client.register(sipInfo(), { instanceId: "lim-1" })).startLine).toBe("SIP/2.0 200 OK");

    const placed = await place();
    const invites = await Promise.all(five.map((h) => h.invite()));
    expect(await sixth.maybeNext(() => true, 200)).toBeUndefined();
    const page = await answerAsPage(five[4].client, invites[4]);
    try {
      await Promise.all(five.slice(0, 4).map((h, n) => h.cancelled(invites[n])));
      await until(() => page.arrivals.length > 10, "RTP at the answering instance");
      const call = await callJson(placed.callId);
      expect(outcomes(call)).toEqual({ "lim-1": "cancelled", "lim-2": "cancelled", "lim-3": "cancelled", "lim-4": "cancelled", "lim-5": "answered" });
      const hangup = control(`/calls/${placed.callId}`, { method: "DELETE" });
      five[4].client.reply(await five[4].client.next(inDialog("BYE", invites[4])), 200, "OK");
      await hangup;
    } finally {
      await page.close();
    }
  });

  it("frees a slot when an instance's registration expires, and at once on un-REGISTER (expires=0)", async () => {
    await hosts("exp-1", "exp-2", "exp-3", "exp-4");
    const brief = await client();
    expect((await brief.register(sipInfo(), { instanceId: "exp-brief", expiresS: 1 })).startLine).toBe("SIP/2.0 200 OK");
    const registeredAtMs = Date.now();
    const next = await client();
    expect((await next.register(sipInfo(), { instanceId: "exp-6" })).startLine).toBe("SIP/2.0 603 Too Many Contacts");
    // The brief one's socket stays open but it never refreshes, like a hung host: it expires.
    await until(async () => (await next.register(sipInfo(), { instanceId: "exp-6" })).startLine === "SIP/2.0 200 OK", "the expired slot to free", 5000);
    expect(Date.now() - registeredAtMs).toBeGreaterThanOrEqual(900);
    expect(brief.ws.readyState).toBe(brief.ws.OPEN);
    expect((await registrations()).map((r) => r.instanceId)).not.toContain("exp-brief");

    const seventh = await client();
    expect((await seventh.register(sipInfo(), { instanceId: "exp-7" })).startLine).toBe("SIP/2.0 603 Too Many Contacts");
    expect((await next.register(sipInfo(), { instanceId: "exp-6", expiresS: 0 })).startLine).toBe("SIP/2.0 200 OK");
    expect((await seventh.register(sipInfo(), { instanceId: "exp-7" })).startLine).toBe("SIP/2.0 200 OK");
  });

  it("the same instance registered from two sockets: the newest replaces the older, and only it rings", async () => {
    const [older] = await hosts("same");
    const olderConn = await connectionOf("same");
    const [newer] = await hosts("same");
    const regs = await registrations();
    expect(regs.map((r) => r.instanceId)).toEqual(["same"]);
    expect(regs[0].connectionId).not.toBe(olderConn);
    const connections = (await control<{ records: Array<{ id: number; instanceIds: string[] }> }>("/sip/connections")).body.records;
    expect(connections.find((c) => c.id === olderConn)!.instanceIds).toEqual([]);
    const placed = await place();
    const invite = await newer.invite();
    expect(await older.client.maybeNext(() => true, 200)).toBeUndefined();
    const call = await callJson(placed.callId);
    expect(call.legs).toEqual([expect.objectContaining({ instanceId: "same", connectionId: regs[0].connectionId, outcome: "ringing" })]);
    const hangup = control(`/calls/${placed.callId}`, { method: "DELETE" });
    await newer.cancelled(invite, true);
    expect((await hangup).body).toMatchObject({ endReason: "cancelled" });
    expect((await callJson(placed.callId)).legs[0].outcome).toBe("cancelled");
  });
});
