/**
 * GraphiQL in a real headless Chromium: the page renders from our own files (no request leaves the
 * server), runs a query and shows its result. Skipped when Debian's chromium is not installed.
 */
import path from "node:path";
import { type BrowserContext } from "playwright-core";
import { chromiumPresent, launchHeadless, type HeadlessChromium } from "./headless-chromium.ts";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createApiFixture, TEST_DATASET, type ApiFixture } from "./api-fixture.ts";

/** The page's DOM, as seen from code that runs inside the browser (the test's tsconfig has no DOM lib). */
declare const document: { querySelector(selector: string): unknown };

const hasChromium = chromiumPresent("the GraphiQL browser test");

describe.skipIf(!hasChromium)("GraphiQL in headless Chromium", () => {
  let fixture: ApiFixture;
  let url: string;
  let chrome: HeadlessChromium | undefined;
  let browser: BrowserContext;

  beforeAll(async () => {
    fixture = await createApiFixture();
    url = (await fixture.server.listen({ port: 0 })).url;
    chrome = await launchHeadless();
    browser = chrome.context;
  });

  afterAll(async () => {
    await chrome?.close();
    await fixture?.close();
  });

  it("renders, runs a query and shows its result, loading nothing from elsewhere", async () => {
    const page = await browser.newPage();
    const requested: string[] = [];
    page.on("request", (request) => requested.push(request.url()));
    const pageErrors: string[] = [];
    page.on("pageerror", (error) => pageErrors.push(error.message));

    await page.goto(url);
    await page.waitForSelector(".graphiql-container .graphiql-query-editor .CodeMirror", { timeout: 30_000 });
    const query = `{ dataset(name: "${TEST_DATASET}") { name statistics { users items } } }`;
    await page.evaluate((text) => {
      const editor = document.querySelector(".graphiql-query-editor .CodeMirror") as {
        CodeMirror: { setValue(value: string): void };
      };
      editor.CodeMirror.setValue(text);
    }, query);
    await page.click(".graphiql-execute-button");
    const handle = await page.waitForFunction(
      () => {
        const response = document.querySelector(".graphiql-response .CodeMirror") as
          | { CodeMirror: { getValue(): string } }
          | null;
        const value = response?.CodeMirror.getValue() ?? "";
        return value.includes('"statistics"') ? value : false;
      },
      undefined,
      { timeout: 30_000 },
    );
    const shown = JSON.parse((await handle.jsonValue()) as string);
    expect(shown).toEqual({ data: { dataset: { name: TEST_DATASET, statistics: { users: 150, items: 120 } } } });
    await page.screenshot({ path: path.join(chrome!.profile, "graphiql.png") });

    expect(pageErrors).toEqual([]);
    expect(requested.length).toBeGreaterThan(4);
    const foreign = requested.filter((address) => !address.startsWith(url) && !address.startsWith("data:"));
    expect(foreign).toEqual([]);
  });
});
