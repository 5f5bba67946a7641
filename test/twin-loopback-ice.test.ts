/**
 * The twin's WebRTC callers offer and answer only loopback ICE candidates: media never leaves
 * the machine, and the page is not sent to check addresses nobody listens on.
 */
import { isIP } from "node:net";
import { describe, expect, it } from "vitest";
import { CallerPeer } from "../twin/caller/peer.ts";
import { until, useFaultHarness } from "./support/fault-harness.ts";
import { answerAsPage } from "./support/werift-page.ts";

const { control, client, sipInfo } = useFaultHarness();

/** The connection address of every `a=candidate` line. */
function candidateAddresses(sdp: string): string[] {
  return [...sdp.matchAll(/^a=candidate:\S+ \d+ \S+ \d+ (\S+) \d+ typ /gm)].map((m) => m[1]);
}

function expectLoopbackOnly(sdp: string, what: string): void {
  const addresses = candidateAddresses(sdp);
  expect(addresses.length, `${what}: no candidate in\n${sdp}`).toBeGreaterThan(0);
  for (const a of addresses) {
    expect(isIP(a), `${what}: ${a} is not an IP address`).not.toBe(0);
    expect(a === "::1" || a.startsWith("127."), `${what}: candidate ${a} is not loopback`).toBe(true);
  }
}

describe("the twin's ICE candidates are loopback only", () => {
  it("the caller's offer in the INVITE, and its answer to the page's ICE restart; media flows on them", async () => {
    const a = await client();
    await a.register(sipInfo(), { instanceId: "inst-ice" });
    const { body } = await control<{ callId: string }>("/calls", { method: "POST", body: { from: "+16506666666", play: "tone:440" } });
    const invite = await a.next((m) => m.startLine.startsWith("INVITE "));
    expectLoopbackOnly(invite.body, "the INVITE's offer");
    const page = await answerAsPage(a, invite);
    try {
      await until(() => page.arrivals.length > 10, "RTP from the caller");
      expectLoopbackOnly(page.pc.localDescription!.sdp, "the stand-in page's answer");
      const ok = await page.reInvite(a);
      expect(ok.startLine).toBe("SIP/2.0 200 OK");
      expectLoopbackOnly(ok.body, "the answer to the ICE restart");
      const restartedAtMs = Date.now();
      await until(() => page.packetsSince(restartedAtMs) > 10, "RTP after the ICE restart");
    } finally {
      await page.close();
      await control(`/calls/${body.callId}`, { method: "DELETE" });
    }
  });

  it("the callee's answer to a call the page places", async () => {
    const page = new CallerPeer("silence", ["PCMU"]);
    const callee = new CallerPeer("silence", ["PCMU"]);
    try {
      const offer = await page.createOffer();
      expectLoopbackOnly(await callee.answerOffer(offer), "the callee's answer");
    } finally {
      await page.pc.close();
      await callee.pc.close();
    }
  });
});
