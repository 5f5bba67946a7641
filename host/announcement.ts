import { readFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import wavefile from "wavefile";

const APOLOGY = fileURLToPath(new URL("./assets/pipeline-unavailable.wav", import.meta.url));

/** The bundled "cannot take your call" message as PCM16 at the page's rate (loaded once at start). */
export function loadApology(sampleRate: number): Int16Array {
  const wav = new wavefile.WaveFile(readFileSync(APOLOGY));
  wav.toBitDepth("16");
  if ((wav.fmt as { sampleRate: number }).sampleRate !== sampleRate) wav.toSampleRate(sampleRate);
  return wav.getSamples(false, Int16Array) as unknown as Int16Array;
}
