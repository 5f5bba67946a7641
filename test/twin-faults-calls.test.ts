/**
 * Calls across the twin's faults (docs/twin.md, "What a dropped socket does to calls", media
 * stall and kill), without Chrome: a raw SIP client answers, and a werift peer stands in for the
 * page's media so RTP can be counted at the page.
 */
import { describe, expect, it } from "vitest";
import { until, useFaultHarness } from "./support/fault-harness.ts";
import { answerAsPage } from "./support/werift-page.ts";

const { harness, control, client, sipInfo, registrations } = useFaultHarness();

describe("calls across faults", () => {
  const place = async () => (await control<{ callId: string }>("/calls", { method: "POST", body: { from: "+16506666666", play: "tone:440" } })).body.callId;
  const callJson = async (id: string) => (await control(`/calls/${id}`)).body;

  it("keeps a call up when its socket drops; the re-INVITE on a new socket is answered and media carries on; stall and kill withhold RTP", async () => {
    const a = await client();
    await a.register(sipInfo(), { instanceId: "inst-call" });
    const id = await place();
    const page = await answerAsPage(a, await a.next((m) => m.startLine.startsWith("INVITE ")));
    try {
      await until(async () => (await callJson(id)).state === "answered", "the answer");
      await until(() => page.arrivals.length > 10, "RTP from the caller");

      // Hold-style re-INVITE (same ICE credentials): answered with the current SDP, as before.
      const hold = await page.holdReInvite(a);
      expect(hold.startLine).toBe("SIP/2.0 200 OK");
      expect(hold.body).toBe(harness().twin.board.calls.get(id)!.peer!.pc.localDescription!.sdp);

      await control("/faults/sip/drop", { method: "POST", body: { extension: "101", mode: "terminate" } });
      expect((await a.closed).code).toBe(1006);
      const lost = await until(async () => {
        const c = await callJson(id);
        return c.sip.connectionOpen === false ? c : undefined;
      }, "the call to see its socket gone");
      expect(lost).toMatchObject({ state: "answered", sip: { lostAtMs: expect.any(Number), rebinds: 0 } });
      const droppedAtMs = Date.now();
      await until(() => page.packetsSince(droppedAtMs) > 5, "media to carry on without SIP");

      const b = await client();
      expect((await b.register(sipInfo(), { instanceId: "inst-call" })).startLine).toBe("SIP/2.0 200 OK");
      const ok = await page.reInvite(b);
      expect(ok.startLine).toBe("SIP/2.0 200 OK");
      expect(ok.body).toMatch(/^a=ice-ufrag:/m);
      const movedAtMs = Date.now();
      await until(() => page.packetsSince(movedAtMs) > 10, "media after the ICE restart");
      const [reg] = await registrations();
      expect((await callJson(id)).sip).toEqual({ connectionId: reg.connectionId, connectionOpen: true, lostAtMs: null, rebinds: 1 });

      // Stall until resumed.
      expect((await control(`/calls/${id}/media/stall`, { method: "POST", body: {} })).body).toMatchObject({ state: "stalled", stalledUntilMs: null });
      const stalledAtMs = Date.now() + 100; // packets already in flight
      await new Promise((r) => setTimeout(r, 400));
      expect(page.packetsSince(stalledAtMs)).toBe(0);
      expect((await control("/faults")).body.media).toEqual([expect.objectContaining({ callId: id, state: "stalled" })]);
      await control(`/calls/${id}/media/resume`, { method: "POST" });
      const resumedAtMs = Date.now();
      await until(() => page.packetsSince(resumedAtMs) > 3, "RTP after resume");

      // Stall for a time: a gap of about that long, and sequence numbers that skip it (lost, not paused).
      const last = page.arrivals.length;
      expect((await control(`/calls/${id}/media/stall`, { method: "POST", body: { forMs: 600 } })).body.state).toBe("stalled");
      await until(() => {
        for (let i = Math.max(1, last); i < page.arrivals.length; i++) if (page.arrivals[i].atMs - page.arrivals[i - 1].atMs > 400) return true;
        return false;
      }, "a gap and RTP after it", 5000);
      const gapAt = page.arrivals.findIndex((x, i) => i >= Math.max(1, last) && x.atMs - page.arrivals[i - 1].atMs > 400);
      const gapMs = page.arrivals[gapAt].atMs - page.arrivals[gapAt - 1].atMs;
      const seqJump = (page.arrivals[gapAt].seq - page.arrivals[gapAt - 1].seq + 0x10000) % 0x10000;
      expect(gapMs).toBeGreaterThanOrEqual(500);
      expect(gapMs).toBeLessThan(1500);
      expect(seqJump).toBeGreaterThanOrEqual(25);

      // Kill: RTP stops for good, the call stays up, no BYE.
      await control(`/calls/${id}/media/kill`, { method: "POST" });
      const killedAtMs = Date.now() + 100;
      await new Promise((r) => setTimeout(r, 500));
      expect(page.packetsSince(killedAtMs)).toBe(0);
      expect(await b.maybeNext((m) => m.startLine.startsWith("BYE "), 50)).toBeUndefined();
      expect(await callJson(id)).toMatchObject({ state: "answered", media: { state: "killed" } });
      expect((await control(`/calls/${id}/media/stall`, { method: "POST", body: {} })).status).toBe(409);
      await control("/faults", { method: "DELETE" });
      expect((await callJson(id)).media.state).toBe("killed");

      // The caller's BYE reaches the page on its new socket.
      const hangup = control(`/calls/${id}`, { method: "DELETE" });
      const bye = await b.next((m) => m.startLine.startsWith("BYE "));
      b.reply(bye, 200, "OK");
      expect((await hangup).body).toMatchObject({ state: "ended", endReason: "caller-hangup" });
    } finally {
      await page.close();
    }
  });

  it("gives up on a dropped call nobody picks up again after the grace period; a ringing call fails at once", async () => {
    const graceMs = harness().twin.board.dialogs.graceMs;
    harness().twin.board.dialogs.graceMs = 300;
    try {
      const a = await client();
      await a.register(sipInfo(), { instanceId: "inst-grace" });
      const id = await place();
      const page = await answerAsPage(a, await a.next((m) => m.startLine.startsWith("INVITE ")));
      try {
        await until(async () => (await callJson(id)).state === "answered", "the answer");
        await control("/faults/sip/drop", { method: "POST", body: { all: true } });
        const droppedAtMs = Date.now();
        const ended = await until(async () => {
          const c = await callJson(id);
          return c.state === "ended" ? c : undefined;
        }, "the call to be given up");
        expect(ended.endReason).toBe("failed");
        expect(Date.now() - droppedAtMs).toBeGreaterThanOrEqual(250);
      } finally {
        await page.close();
      }

      const c = await client();
      await c.register(sipInfo(), { instanceId: "inst-ring" });
      const ringing = await place();
      await c.next((m) => m.startLine.startsWith("INVITE "));
      await control("/faults/sip/drop", { method: "POST", body: { instanceId: "inst-ring", mode: "terminate" } });
      expect(await until(async () => ((await callJson(ringing)).state === "ended" ? callJson(ringing) : undefined), "the ringing call to fail")).toMatchObject({ endReason: "failed" });
    } finally {
      harness().twin.board.dialogs.graceMs = graceMs;
    }
  });
});
