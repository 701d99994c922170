/**
 * The dashboard in a real headless Chromium (issue 10, §5): each view renders with the data points of
 * models trained here, loads nothing from elsewhere, and leaves a screenshot in a temporary folder
 * (printed, not kept); a crafted link's ids reach the API only as variables. Skipped when Debian's
 * chromium is not installed.
 */
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { type BrowserContext, type Page } from "playwright-core";
import { chromiumPresent, launchHeadless, type HeadlessChromium } from "./headless-chromium.ts";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createApiKey } from "../../src/services/api-keys.ts";
import { trainAndSave } from "../../src/services/training.ts";
import { createServer, createServerDeps } from "../../src/server.ts";
import { createApiFixture, TEST_DATASET, type ApiFixture } from "./api-fixture.ts";

const hasChromium = chromiumPresent("the dashboard browser test");

/** What the page exposes as window.vcmDashboard (the test's tsconfig has no DOM lib). */
interface Drawn {
  view: string;
  ready: boolean;
  error: string | null;
  charts: Array<{ title: string; points: unknown[] }>;
}
declare const window: { vcmDashboard: Drawn };

const SMALL = { epochs: 3, latentDim: 8, hiddenX: 16, hiddenY: 16, batchSize: 50, annealSteps: 10 };

describe.skipIf(!hasChromium)("dashboard in headless Chromium", () => {
  let fixture: ApiFixture;
  let base: string;
  let chrome: HeadlessChromium | undefined;
  let shots: string;
  let browser: BrowserContext;
  let vcm: number;
  let se: number;

  beforeAll(async () => {
    fixture = await createApiFixture();
    const train = async (variant: string) => (await trainAndSave({ dataSource: fixture.dataSource, dataset: TEST_DATASET, variant, config: SMALL, modelsDir: fixture.config.modelsDir })).model.id;
    vcm = await train("vcm");
    se = await train("vcm-se");
    base = (await fixture.server.listen({ port: 0 })).url.replace(/\/$/, "");
    shots = fs.mkdtempSync(path.join(os.tmpdir(), "vcm-dashboard-shots-"));
    chrome = await launchHeadless();
    browser = chrome.context;
  }, 120_000);

  afterAll(async () => {
    await chrome?.close();
    await fixture?.close();
    if (shots) console.log(`dashboard screenshots: ${shots}`);
  });

  /** Opens a view, waits until it has drawn, and returns what it drew; asserts nothing came from elsewhere. */
  async function open(query: string, shot: string): Promise<{ drawn: Drawn; page: Page }> {
    const page = await browser.newPage();
    const requested: string[] = [];
    page.on("request", (request) => requested.push(request.url()));
    const errors: string[] = [];
    page.on("pageerror", (error) => errors.push(error.message));
    await page.goto(`${base}/dashboard?${query}`);
    await page.waitForSelector("#dashboard[data-ready]", { timeout: 30_000 });
    const drawn = await page.evaluate(() => window.vcmDashboard);
    await page.screenshot({ path: path.join(shots, shot), fullPage: true });
    expect(errors).toEqual([]);
    expect(drawn.error).toBeNull();
    expect(requested.every((u) => u.startsWith(base))).toBe(true);
    return { drawn, page };
  }

  async function gql(query: string) {
    const result = await fixture.server.execute({ query });
    expect(result.errors).toBeUndefined();
    return result.data as any;
  }

  it("draws the models' training curves: validation NDCG@100 and every loss term per epoch", async () => {
    const { drawn, page } = await open(`view=models&dataset=${TEST_DATASET}`, "models.png");
    const api = await gql(`{ dataset(name: "${TEST_DATASET}") { models { id trainingCurve { epoch valNdcg100 reconX } } } }`);
    const curves = api.dataset.models.filter((m: any) => m.trainingCurve.length > 0);
    expect(drawn.charts[0].title).toContain("Validation NDCG@100");
    expect(drawn.charts[0].points).toEqual(curves.map((m: any) => m.trainingCurve.map((e: any) => [e.epoch, e.valNdcg100])));
    // One loss chart per model, its first series reconX.
    expect(drawn.charts).toHaveLength(1 + curves.length);
    expect((drawn.charts[1].points as number[][][])[0]).toEqual(curves[0].trainingCurve.map((e: any) => [e.epoch, e.reconX]));
    expect(await page.locator("canvas").count()).toBe(1 + curves.length);
  });

  it("draws the cohort table as charts, two models side by side, with the numbers", async () => {
    const { drawn, page } = await open(`view=cohorts&model=${vcm}&compare=${se}`, "cohorts.png");
    const api = await gql(`{ cohorts(modelId: "${vcm}", compareTo: "${se}") { cohorts { label figures { ndcg10 } compared { ndcg10 } } } }`);
    expect(drawn.charts[0].points).toEqual([api.cohorts.cohorts.map((c: any) => c.figures.ndcg10), api.cohorts.cohorts.map((c: any) => c.compared.ndcg10)]);
    const firstRow = await page.locator("tbody tr").first().locator("td").allTextContents();
    expect(firstRow[0]).toBe(api.cohorts.cohorts[0].label);
  });

  it("draws coverage and APLT per quantile cohort from the link's grouping, with novelty in the table", async () => {
    const { drawn, page } = await open(`view=cohorts&model=${vcm}&compare=${se}&grouping=EQUAL_USERS&groups=3`, "cohorts-beyond.png");
    const api = await gql(`{ cohorts(modelId: "${vcm}", compareTo: "${se}", grouping: EQUAL_USERS, groups: 3) { cohorts { label figures { beyondAccuracy { coverage aplt novelty } } compared { beyondAccuracy { coverage aplt } } } } }`);
    const cohorts = api.cohorts.cohorts;
    const beyond = drawn.charts.find((c) => c.title.startsWith("Catalogue coverage"))!;
    expect(beyond.points).toEqual([
      cohorts.map((c: any) => c.figures.beyondAccuracy.coverage),
      cohorts.map((c: any) => c.figures.beyondAccuracy.aplt),
      cohorts.map((c: any) => c.compared.beyondAccuracy.coverage),
      cohorts.map((c: any) => c.compared.beyondAccuracy.aplt),
    ]);
    expect(cohorts.length).toBeGreaterThan(1);
    const firstRow = await page.locator("tbody tr").first().locator("td").allTextContents();
    expect(firstRow[0]).toBe(cohorts[0].label);
    expect(firstRow[6]).toBe(cohorts[0].figures.beyondAccuracy.novelty.toFixed(2));
  });

  /** Opens a link and returns the GraphQL requests the page sent and what it showed. */
  async function sent(query: string): Promise<{ bodies: Array<{ query: string; variables: Record<string, unknown> }>; ready: string | null; error: string | null; headings: string[] }> {
    const page = await browser.newPage();
    const bodies: Array<{ query: string; variables: Record<string, unknown> }> = [];
    page.on("request", (request) => {
      if (new URL(request.url()).pathname === "/graphql") bodies.push(JSON.parse(request.postData() ?? "{}"));
    });
    await page.goto(`${base}/dashboard?${query}`);
    await page.waitForSelector("#dashboard[data-ready]", { timeout: 30_000 });
    const ready = await page.locator("#dashboard").getAttribute("data-ready");
    const error = await page.evaluate(() => window.vcmDashboard.error);
    const headings = await page.locator("h2").allTextContents();
    await page.close();
    return { bodies, ready, error, headings };
  }

  it("sends a link's model and compare ids as variables: a crafted link changes no document and shows an error, not its query's data", async () => {
    const injected = `1"){__schema{types{name}}}#`;
    for (const [view, plain, crafted] of [
      ["user", `view=user&user=3&model=${vcm}&compare=${se}`, `view=user&user=3&model=${encodeURIComponent(injected)}&compare=${encodeURIComponent(injected)}`],
      ["user", `view=user&user=3&model=${vcm}`, `view=user&user=3&model=${encodeURIComponent(injected)}`],
      ["cohorts", `view=cohorts&model=${vcm}&compare=${se}`, `view=cohorts&model=${encodeURIComponent(injected)}&compare=${encodeURIComponent(injected)}`],
    ]) {
      const good = await sent(plain);
      const bad = await sent(crafted);
      expect(good.ready, view).toBe("true");
      expect(bad.bodies).toHaveLength(1);
      // The very document of an ordinary link; the crafted value only in the variables.
      expect(bad.bodies[0].query).toBe(good.bodies[0].query);
      expect(bad.bodies[0].query).not.toContain("__schema");
      expect(Object.values(bad.bodies[0].variables)).toContain(injected);
      expect(bad.ready).toBe("error");
      expect(bad.error).toBe(`Model id "${injected}" is not valid; ids are positive integers.`);
      expect(bad.headings).toEqual([]);
    }
  });

  it("shows a user's top words, recommendations with explanation words and highlighted reviews under two models", async () => {
    const { drawn, page } = await open(`view=user&user=3&model=${vcm}&compare=${se}`, "user.png");
    const api = await gql(`{ user(id: 3) { a: topWords(modelId: "${vcm}", k: 12) { probability } b: topWords(modelId: "${se}", k: 12) { probability } } }`);
    expect(drawn.charts.map((c) => c.points)).toEqual([[api.user.a.map((w: any) => w.probability)], [api.user.b.map((w: any) => w.probability)]]);
    expect(await page.locator("section.column").count()).toBe(2);
    expect(await page.locator("section.column").first().locator("tbody tr").count()).toBe(8);
    expect(await page.locator(".review span.level-high, .review span.level-medium, .review span.level-low").count()).toBeGreaterThan(0);
  });

  it("draws every view for an analyst key on a --persisted-only server, whose answer to an ad-hoc query is PERSISTED_QUERY_ONLY", async () => {
    const strict = await createServer(createServerDeps({ dataSource: fixture.dataSource, config: fixture.config, persistedOnly: true }));
    try {
      const key = (await createApiKey(fixture.dataSource, { name: "dashboard-analyst", role: "analyst" })).key;
      const strictBase = (await strict.listen({ port: 0 })).url.replace(/\/$/, "");
      for (const query of [`view=models`, `view=models&dataset=${TEST_DATASET}`, `view=cohorts&model=${vcm}&compare=${se}`, `view=cohorts&model=${vcm}`, `view=user&user=3&model=${vcm}&compare=${se}`, `view=user&user=3&model=${vcm}`]) {
        const page = await browser.newPage();
        await page.setExtraHTTPHeaders({ authorization: `Bearer ${key}` });
        const statuses: number[] = [];
        page.on("response", (response) => {
          if (new URL(response.url()).pathname === "/graphql") statuses.push(response.status());
        });
        await page.goto(`${strictBase}/dashboard?${query}`);
        await page.waitForSelector("#dashboard[data-ready]", { timeout: 30_000 });
        const drawn = await page.evaluate(() => window.vcmDashboard);
        expect(drawn.error, query).toBeNull();
        expect(drawn.ready, query).toBe(true);
        expect(statuses, query).toEqual([200]);
        await page.close();
      }
      const adHoc = await fetch(`${strictBase}/graphql`, { method: "POST", headers: { "content-type": "application/json", authorization: `Bearer ${key}` }, body: JSON.stringify({ query: "{ datasets { name } }" }) });
      expect(adHoc.status).toBe(403);
      expect(((await adHoc.json()) as { errors: Array<{ extensions: { code: string } }> }).errors[0].extensions.code).toBe("PERSISTED_QUERY_ONLY");
    } finally {
      await strict.stop();
    }
  }, 120_000);
});
