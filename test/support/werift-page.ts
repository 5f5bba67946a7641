/**
 * A stand-in for the WebPhone's media and dialog, in Node: a werift peer that answers the twin's
 * INVITE over a raw SIP client, counts the caller's RTP, and can re-INVITE with an ICE restart
 * as `callSession.reInvite()` does. For tests that need media but not Chrome.
 */
import { randomBytes } from "node:crypto";
import { RTCPeerConnection, RTCRtpCodecParameters } from "werift";
import { header, type SipMessage } from "../../twin/sip/message.ts";
import type { RawSipClient } from "./raw-sip.ts";

export interface Arrival {
  atMs: number;
  seq: number;
}

async function gathered(pc: RTCPeerConnection): Promise<void> {
  if (pc.iceGatheringState === "complete") return;
  await new Promise<void>((resolve) => {
    const { unSubscribe } = pc.iceGatheringStateChange.subscribe((s) => {
      if (s !== "complete") return;
      unSubscribe();
      resolve();
    });
  });
}

/** Answers `invite` (the twin's offer) with 200 + SDP on `client`; returns the page's side of the call. */
export async function answerAsPage(client: RawSipClient, invite: SipMessage) {
  const pc = new RTCPeerConnection({
    codecs: { audio: [new RTCRtpCodecParameters({ mimeType: "audio/opus", clockRate: 48000, channels: 2 })] },
    iceServers: [],
    // Loopback only, as the twin's caller (twin/caller/peer.ts says why no interface is listed).
    iceUseIpv4: false,
    iceUseIpv6: false,
    iceInterfaceAddresses: { udp4: "127.0.0.1" },
    iceAdditionalHostAddresses: ["127.0.0.1"],
  });
  const arrivals: Arrival[] = [];
  pc.onTransceiverAdded.subscribe((t) =>
    t.onTrack.subscribe((track) => track.onReceiveRtp.subscribe((rtp) => void arrivals.push({ atMs: Date.now(), seq: rtp.header.sequenceNumber }))),
  );
  await pc.setRemoteDescription({ type: "offer", sdp: invite.body });
  await pc.setLocalDescription(await pc.createAnswer());
  await gathered(pc);
  const localTag = randomBytes(4).toString("hex");
  client.reply(invite, 200, "OK", [["Contact", "<sip:raw@raw.invalid;transport=ws>"], ["Content-Type", "application/sdp"]], pc.localDescription!.sdp, localTag);
  const callId = header(invite, "Call-ID")!;
  const local = `${header(invite, "To")!};tag=${localTag}`;
  const remote = header(invite, "From")!;
  const target = header(invite, "Contact")!.replace(/^<|>$/g, "");

  /** An in-dialog request from the page, as the WebPhone words it. */
  const request = (via: RawSipClient, method: string, body = "", extra: Array<[string, string]> = []): SipMessage => ({
    startLine: `${method} ${target} SIP/2.0`,
    headers: [
      ["Via", `SIP/2.0/WSS raw.invalid;branch=z9hG4bK-${randomBytes(6).toString("hex")}`],
      ["From", local],
      ["To", remote],
      ["Call-Id", callId],
      ["CSeq", `${via.nextCseq()} ${method}`],
      ...extra,
    ],
    body,
  });

  return {
    pc,
    arrivals,
    callId,
    /** RTP packets seen since `sinceMs`. */
    packetsSince: (sinceMs: number) => arrivals.filter((a) => a.atMs >= sinceMs).length,
    /**
     * `callSession.reInvite()` over `via` (a new socket): an offer with an ICE restart, the
     * answer applied, then ACK. Returns the 200.
     */
    async reInvite(via: RawSipClient): Promise<SipMessage> {
      await pc.setLocalDescription(await pc.createOffer({ iceRestart: true }));
      await gathered(pc);
      const ok = await via.request(request(via, "INVITE", pc.localDescription!.sdp, [["Content-Type", "application/sdp"]]));
      if (!ok.startLine.startsWith("SIP/2.0 200 ")) return ok;
      await pc.setRemoteDescription({ type: "answer", sdp: ok.body });
      // werift skips ICE checks on a renegotiation while DTLS is up (its connect() returns
      // early), so its restart never re-nominates a pair; Chrome restarts properly. Start them here.
      for (const t of (pc as unknown as { iceTransports: Array<{ connection: { nominated?: unknown }; start(): Promise<void> }> }).iceTransports) {
        if (!t.connection.nominated) void t.start().catch(() => {});
      }
      const ack = request(via, "ACK");
      ack.headers = ack.headers.map(([n, v]) => [n, n === "CSeq" ? header(ok, "CSeq")!.replace("INVITE", "ACK") : v]);
      via.send(ack);
      return ok;
    },
    /** A hold-style re-INVITE (same ICE credentials), as `toggleReceive()` sends. */
    holdReInvite: (via: RawSipClient) => via.request(request(via, "INVITE", pc.localDescription!.sdp.replace(/a=sendrecv/g, "a=sendonly"), [["Content-Type", "application/sdp"]])),
    close: () => pc.close(),
  };
}
