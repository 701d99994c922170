/**
 * Headless Chromium for the browser tests (Debian's chromium through playwright-core): whether it is
 * installed, and a context in a profile folder of its own that close() removes.
 */
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { chromium, type BrowserContext } from "playwright-core";

export const CHROMIUM = "/usr/bin/chromium";

/** Whether Chromium is installed; when not, says which test is skipped and how to install it. */
export function chromiumPresent(test: string): boolean {
  const present = fs.existsSync(CHROMIUM);
  if (!present) console.warn(`skipping ${test}: ${CHROMIUM} is absent (apt-get install -y chromium)`);
  return present;
}

/** A running headless Chromium. */
export interface HeadlessChromium {
  readonly context: BrowserContext;
  /** Its profile folder (removed by close; screenshots may go there). */
  readonly profile: string;
  close(): Promise<void>;
}

/** Starts headless Chromium with no network of its own (no updates, sync or QUIC) in a fresh profile. */
export async function launchHeadless(): Promise<HeadlessChromium> {
  const profile = fs.mkdtempSync(path.join(os.tmpdir(), "vcm-chromium-"));
  const context = await chromium.launchPersistentContext(profile, {
    executablePath: CHROMIUM,
    headless: true,
    args: ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking", "--disable-component-update", "--disable-sync"],
  });
  return {
    context,
    profile,
    async close() {
      await context.close();
      fs.rmSync(profile, { recursive: true, force: true });
    },
  };
}
