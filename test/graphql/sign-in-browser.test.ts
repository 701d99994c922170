/**
 * The sign-in of the dashboard and GraphiQL in a real headless Chromium (issue 26, item 1), on a
 * server that needs a key for reads (as on a non-loopback address): each page asks for a key on the
 * first 401, keeps it in the tab's session storage (not local storage), sends it as the Authorization
 * header and then draws what it could not before. Skipped when Debian's chromium is not installed.
 */
import { type BrowserContext, type Page } from "playwright-core";
import { chromiumPresent, launchHeadless, type HeadlessChromium } from "./headless-chromium.ts";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { SIGN_IN_STORAGE_KEY } from "../../src/graphql/sign-in.ts";
import { createApiKey } from "../../src/services/api-keys.ts";
import { createApiFixture, type ApiFixture } from "./api-fixture.ts";

const hasChromium = chromiumPresent("the sign-in browser test");

/** The browser's globals the test reads (the test's tsconfig has no DOM lib). */
declare const window: { vcmDashboard: { ready: boolean; error: string | null; charts: unknown[] }; sessionStorage: { getItem(k: string): string | null }; localStorage: { length: number } };
declare const document: { querySelector(s: string): { textContent: string | null } | null };

describe.skipIf(!hasChromium)("sign-in in headless Chromium", () => {
  let fixture: ApiFixture;
  let base: string;
  let chrome: HeadlessChromium | undefined;
  let browser: BrowserContext;
  let key: string;

  beforeAll(async () => {
    fixture = await createApiFixture({ access: { openReads: false, loopback: false } });
    key = (await createApiKey(fixture.dataSource, { name: "browser", role: "analyst" })).key;
    base = (await fixture.server.listen({ port: 0 })).url.replace(/\/$/, "");
    chrome = await launchHeadless();
    browser = chrome.context;
  }, 120_000);

  afterAll(async () => {
    await chrome?.close();
    await fixture?.close();
  });

  /** Opens a page, records the Authorization header of each GraphQL request, signs in when asked. */
  async function signIn(url: string): Promise<{ page: Page; headers: Array<string | undefined>; prompt: string }> {
    const page = await browser.newPage();
    const headers: Array<string | undefined> = [];
    page.on("request", (request) => {
      if (request.url().endsWith("/graphql") && request.method() === "POST") headers.push(request.headers().authorization);
    });
    await page.goto(url);
    await page.waitForSelector("#vcm-sign-in #vcm-key", { timeout: 30_000 });
    const prompt = await page.evaluate(() => document.querySelector("#vcm-sign-in")?.textContent ?? "");
    await page.fill("#vcm-key", key);
    await page.click("#vcm-sign-in button");
    await page.waitForLoadState("load");
    return { page, headers, prompt };
  }

  it("the dashboard asks for a key on the first 401, keeps it for the tab and draws with it", async () => {
    const { page, headers, prompt } = await signIn(`${base}/dashboard?view=models`);
    expect(prompt).toContain("This server needs an API key");
    await page.waitForSelector("#dashboard[data-ready]", { timeout: 30_000 });
    const drawn = await page.evaluate(() => ({ error: window.vcmDashboard.error, stored: window.sessionStorage.getItem("vcm.apiKey"), local: window.localStorage.length }));
    expect(drawn.error).toBeNull();
    expect(drawn.stored).toBe(key);
    expect(drawn.local).toBe(0);
    expect(SIGN_IN_STORAGE_KEY).toBe("vcm.apiKey");
    expect(headers[0]).toBeUndefined();
    expect(headers.at(-1)).toBe(`Bearer ${key}`);
    expect(await page.$("#vcm-sign-in")).toBeNull();
    await page.close();
  }, 60_000);

  it("GraphiQL asks for a key, then loads the schema and runs a query with it", async () => {
    const { page, headers } = await signIn(`${base}/`);
    await page.waitForSelector(".graphiql-container .graphiql-query-editor .CodeMirror", { timeout: 30_000 });
    await page.click(".graphiql-execute-button");
    await page.waitForFunction(() => (document.querySelector(".graphiql-response")?.textContent ?? "").includes("datasets"), undefined, { timeout: 30_000 });
    const answer = await page.evaluate(() => document.querySelector(".graphiql-response")?.textContent ?? "");
    expect(answer).not.toContain("UNAUTHENTICATED");
    expect(headers.filter((h) => h === `Bearer ${key}`).length).toBeGreaterThanOrEqual(1);
    expect(await page.$("#vcm-sign-in")).toBeNull();
    await page.close();
  }, 60_000);
});
