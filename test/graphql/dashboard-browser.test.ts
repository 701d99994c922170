/**
 * The dashboard in a real headless Chromium (issue 10, §5; issue 30): from the first page, by clicks and
 * typing only, every view is reached and its numbers equal the API's (asked over HTTP of the same
 * server); no request leaves the server; titles and names with markup show as text and run nothing; at
 * phone width (390 × 844) the layout stacks; a `--persisted-only` server draws every view for an analyst
 * key; a crafted link's ids reach the API only as variables. Screenshots go to a temporary folder
 * (printed, not kept). Skipped when Debian's chromium is not installed.
 */
import type { ChildProcess } from "node:child_process";
import { once } from "node:events";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { type BrowserContext, type Page } from "playwright-core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { syntheticSource } from "../../src/data/generate.ts";
import { createApiKey } from "../../src/services/api-keys.ts";
import { ingestDataset } from "../../src/services/ingest.ts";
import { attachMetadata } from "../../src/services/metadata.ts";
import { trainAndSave } from "../../src/services/training.ts";
import { createApiFixture, TEST_DATASET, type ApiFixture } from "./api-fixture.ts";
import { chromiumPresent, launchHeadless, type HeadlessChromium } from "./headless-chromium.ts";
import { serveProcess } from "./serve-process.ts";

const hasChromium = chromiumPresent("the dashboard browser test");

/** What the page exposes as window.vcmDashboard (the test's tsconfig has no DOM lib). */
interface Drawn {
  view: string;
  ready: boolean;
  error: string | null;
  charts: Array<{ title: string; points: unknown[] }>;
  whatIf?: { clicks: string[]; text: string; ranking: string[] };
  figures?: Array<{ name: string; title: string }>;
}
declare const window: { vcmDashboard: Drawn; pwned?: unknown };
declare const document: { documentElement: { scrollWidth: number }; querySelector(s: string): unknown };
declare function getComputedStyle(element: unknown): { flexDirection: string };

const SMALL = { epochs: 3, latentDim: 8, hiddenX: 16, hiddenY: 16, batchSize: 50, annealSteps: 10 };
/** An item title and a user name that a page writing markup would run. */
const MARKUP_TITLE = "<img src=x onerror=window.pwned=1>";
const MARKUP_NAME = "Ann <script>window.pwned=2</script>";
/** A second dataset, where the experiment runs (its models would otherwise join the first dataset's). */
const EXPERIMENT_DATASET = "demo-experiment";

describe.skipIf(!hasChromium)("dashboard in headless Chromium", () => {
  let fixture: ApiFixture;
  let base: string;
  let chrome: HeadlessChromium | undefined;
  let shots: string;
  let browser: BrowserContext;
  let vcm: string;
  let se: string;
  /** A popularity baseline, trained first so that the newest model (the page's default) is VCM-Se. */
  let popularity: string;
  let experimentId: string;
  /** User 3: its external id, and the item of its history whose title is markup. */
  let user3: { externalId: string; markupItem: string };

  /** The same server's API over HTTP. */
  async function api(query: string, variables: Record<string, unknown> = {}, url = base): Promise<any> {
    const response = await fetch(`${url}/graphql`, { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify({ query, variables }) });
    const body = (await response.json()) as { data: any; errors?: unknown[] };
    expect(body.errors).toBeUndefined();
    return body.data;
  }

  beforeAll(async () => {
    fixture = await createApiFixture();
    const train = async (variant: string) => String((await trainAndSave({ dataSource: fixture.dataSource, dataset: TEST_DATASET, variant, config: SMALL, modelsDir: fixture.config.modelsDir })).model.id);
    popularity = await train("popularity");
    vcm = await train("vcm");
    se = await train("vcm-se");
    base = (await fixture.server.listen({ port: 0 })).url.replace(/\/$/, "");
    // An experiment runs in its own process while the other tests drive the page.
    await ingestDataset(fixture.dataSource, { name: EXPERIMENT_DATASET, source: syntheticSource({ users: 60, items: 50, vocab: 200, seed: 3 }) });
    const started = await api(`mutation ($input: StartExperimentInput!) { startExperiment(input: $input) { id } }`, { input: { dataset: EXPERIMENT_DATASET, models: ["VCM", "POPULARITY"], seeds: 1, epochs: 2 } });
    experimentId = started.startExperiment.id;
    await api(`mutation ($m: ID!) { setModelAlias(alias: "production", dataset: "${TEST_DATASET}", modelId: $m) { alias } }`, { m: vcm });
    const user = (await api(`{ user(id: 3) { externalId clicks(first: 1, split: [TRAIN]) { edges { node { item { externalId } } } } } }`)).user;
    user3 = { externalId: user.externalId, markupItem: user.clicks.edges[0].node.item.externalId };
    const items = path.join(fixture.dir, "items.tsv");
    fs.writeFileSync(items, `item_id\ttitle\ttags\n${user3.markupItem}\t${MARKUP_TITLE}\t<b>bold</b>|plain\n`);
    const users = path.join(fixture.dir, "users.tsv");
    fs.writeFileSync(users, `user\tname\n${user3.externalId}\t${MARKUP_NAME}\n`);
    await attachMetadata({ dataSource: fixture.dataSource, dataset: TEST_DATASET, items: { file: items, format: "tsv" }, users: { file: users } });
    shots = fs.mkdtempSync(path.join(os.tmpdir(), "vcm-dashboard-shots-"));
    chrome = await launchHeadless();
    browser = chrome.context;
  }, 300_000);

  afterAll(async () => {
    await chrome?.close();
    await fixture?.close();
    if (shots) console.log(`dashboard screenshots: ${shots}`);
  });

  /** A page on the first page of the dashboard (the only address the test writes), recording every request and error. */
  async function firstPage(options: { url?: string; width?: number; height?: number; key?: string } = {}): Promise<{ page: Page; requested: string[]; errors: string[]; statuses: number[] }> {
    const url = options.url ?? base;
    const page = await browser.newPage();
    await page.setViewportSize({ width: options.width ?? 1280, height: options.height ?? 800 });
    if (options.key) await page.setExtraHTTPHeaders({ authorization: `Bearer ${options.key}` });
    const requested: string[] = [];
    const errors: string[] = [];
    const statuses: number[] = [];
    page.on("request", (request) => requested.push(request.url()));
    page.on("pageerror", (error) => errors.push(error.message));
    page.on("response", (response) => {
      if (new URL(response.url()).pathname === "/graphql") statuses.push(response.status());
    });
    await page.goto(`${url}/dashboard`);
    await ready(page);
    return { page, requested, errors, statuses };
  }

  /** Waits until the view has drawn, and returns what it drew. */
  async function ready(page: Page): Promise<Drawn> {
    await page.waitForSelector("#dashboard[data-ready]", { timeout: 60_000 });
    const drawn = await page.evaluate(() => window.vcmDashboard);
    expect(drawn.error).toBeNull();
    return drawn;
  }

  async function view(page: Page, name: string): Promise<Drawn> {
    await page.click(`nav a[data-view="${name}"]`);
    return ready(page);
  }

  /** The text of each cell of a table's body rows. */
  async function rows(page: Page, selector: string): Promise<string[][]> {
    return page.locator(`${selector} tbody tr`).evaluateAll((trs: any[]) => trs.map((tr) => Array.from(tr.children).map((td: any) => td.textContent as string)));
  }

  async function done(page: Page, name: string, checks: { requested: string[]; errors: string[] }): Promise<void> {
    await page.screenshot({ path: path.join(shots, name), fullPage: true });
    expect(checks.errors).toEqual([]);
    expect(checks.requested.filter((u) => !u.startsWith(`${base}/`))).toEqual([]);
    expect(await page.evaluate(() => window.pwned)).toBeUndefined();
    await page.close();
  }

  const modelsQuery = `query ($n: String!) { dataset(name: $n) { models { id status testMetrics { ndcgAt10 } trainingCurve { epoch valNdcg100 reconX } } } }`;

  it("models view: the first page draws every model's curves and metrics; two models chosen on the page are compared with the paired t-test", async () => {
    const first = await firstPage();
    const { page } = first;
    const drawn = await page.evaluate(() => window.vcmDashboard);
    expect(drawn.view).toBe("models");
    const models = (await api(modelsQuery, { n: TEST_DATASET })).dataset.models;
    const curved = models.filter((m: any) => m.trainingCurve.length > 0);
    expect(curved.map((m: any) => m.id)).toEqual([se, vcm]);
    expect(drawn.charts[0].points).toEqual(curved.map((m: any) => m.trainingCurve.map((e: any) => [e.epoch, e.valNdcg100])));
    expect(drawn.charts.slice(1).map((c) => (c.points as number[][][])[0])).toEqual(curved.map((m: any) => m.trainingCurve.map((e: any) => [e.epoch, e.reconX])));
    expect((await rows(page, "#models-table")).map((r) => [r[0], r[6]])).toEqual(models.map((m: any) => [m.id, m.testMetrics.ndcgAt10.toFixed(4)]));
    // The header lists the models with variant, status, date and headline metric.
    const options = await page.locator("#pick-model option").allTextContents();
    expect(options[0]).toMatch(new RegExp(`^model ${se} · vcm-se · READY · \\d{4}-\\d\\d-\\d\\d · NDCG@10 ${models[0].testMetrics.ndcgAt10.toFixed(4)}$`));
    // Aliases too: choosing one chooses its model.
    expect(await page.locator('#pick-model optgroup[label="aliases"] option').allTextContents()).toEqual([`alias production → model ${vcm}`]);
    await page.selectOption("#pick-model", { label: `alias production → model ${vcm}` });
    await ready(page);
    expect(new URL(page.url()).searchParams.get("model")).toBe(vcm);

    await page.selectOption("#compare-a", vcm);
    await page.selectOption("#compare-b", se);
    await page.click("#compare-form button");
    await ready(page);
    const compared = (await api(`query ($a: ID!, $b: ID!) { compareModels(modelId: $a, compareTo: $b) { users metrics { metric meanModel meanCompared df pValue } } }`, { a: vcm, b: se })).compareModels;
    expect(compared.metrics.length).toBeGreaterThan(0);
    expect((await rows(page, "#compare-ttest")).map((r) => [r[0], r[1], r[2], r[5]])).toEqual(compared.metrics.map((m: any) => [m.metric, m.meanModel.toFixed(4), m.meanCompared.toFixed(4), String(m.df)]));
    expect(await page.locator("#model-comparison").textContent()).toContain(`over the ${compared.users} test users`);
    await done(page, "models.png", first);
  });

  it("cohorts view: reached by a click, only cohorts with users drawn, the grouping chosen on the page, item-popularity cohorts", async () => {
    const first = await firstPage();
    const { page } = first;
    let drawn = await view(page, "cohorts");
    const figures = `figures { ndcg10 meanCapacity beyondAccuracy { coverage aplt novelty } }`;
    const boundaries = (await api(`query ($m: ID!) { cohorts(modelId: $m) { cohorts { label userCount ${figures} } itemCohorts { name itemCount clickShare } } }`, { m: se })).cohorts;
    const shown = boundaries.cohorts.filter((c: any) => c.userCount > 0);
    // The generated dataset leaves the most active cohorts empty: they are named, not drawn.
    expect(shown.length).toBeLessThan(boundaries.cohorts.length);
    expect(drawn.charts[0].points).toEqual([shown.map((c: any) => c.figures.ndcg10)]);
    expect((await rows(page, "#cohort-table")).map((r) => r[0])).toEqual(shown.map((c: any) => c.label));
    expect((await rows(page, "#item-cohort-table")).map((r) => [r[0], r[2]])).toEqual(boundaries.itemCohorts.filter((c: any) => c.itemCount > 0).map((c: any) => [c.name, c.clickShare.toFixed(4)]));

    await page.selectOption("#pick-compare", vcm);
    await ready(page);
    await page.selectOption("#cohort-grouping", "EQUAL_USERS");
    await page.fill("#cohort-groups", "3");
    await page.click("#cohort-form button");
    drawn = await ready(page);
    const quantiles = (await api(`query ($m: ID!, $c: ID) { cohorts(modelId: $m, compareTo: $c, grouping: EQUAL_USERS, groups: 3) { cohorts { label userCount ${figures} compared { beyondAccuracy { coverage aplt } } } } }`, { m: se, c: vcm })).cohorts.cohorts;
    expect(quantiles).toHaveLength(3);
    const beyond = drawn.charts.find((c) => c.title.startsWith("Catalogue coverage"))!;
    expect(beyond.points).toEqual([
      quantiles.map((c: any) => c.figures.beyondAccuracy.coverage),
      quantiles.map((c: any) => c.figures.beyondAccuracy.aplt),
      quantiles.map((c: any) => c.compared.beyondAccuracy.coverage),
      quantiles.map((c: any) => c.compared.beyondAccuracy.aplt),
    ]);
    const table = await rows(page, "#cohort-table");
    // One row per cohort and model: the first model's row, then the compared one's.
    expect(table.map((r) => [r[0], r[2]])).toEqual(quantiles.flatMap((c: any) => [[c.label, se], [c.label, vcm]]));
    expect(table[0][9]).toBe(quantiles[0].figures.beyondAccuracy.novelty.toFixed(2));
    await done(page, "cohorts.png", first);
  });

  const recommendationsQuery = `query ($m: ID!) { user(id: 3) {
    clickCount clicks(first: 100) { edges { node { item { externalId title } } } }
    topWords(modelId: $m, k: 12) { probability }
    recommendations(modelId: $m, k: 8) { item { id externalId title } explanation(k: 3) { words { word } clicks { item { externalId title } } } }
  } }`;

  it("user view: found by typing in the search box, history beside two models' recommendations with word and click reasons, and a what-if ranking", async () => {
    const first = await firstPage();
    const { page } = first;
    await page.fill("#search", user3.externalId);
    await page.click("#search-form button");
    await page.click(`#search-results a:has-text("${user3.externalId}")`);
    let drawn = await ready(page);
    expect(drawn.view).toBe("user");
    const u = (await api(recommendationsQuery, { m: se })).user;
    const name = (r: { externalId: string; title: string | null }) => r.title ?? r.externalId;
    const history = await rows(page, "#history-table");
    expect(history).toHaveLength(Math.min(u.clickCount, 100));
    expect(history.map((r) => r[0]).sort()).toEqual(u.clicks.edges.map((e: any) => name(e.node.item)).sort());
    // Most recent first where the user's reviews give a time, the clicks without one after them.
    const dates = history.map((r) => r[2]);
    const dated = dates.filter((d) => d !== "–");
    expect(dated.length).toBeGreaterThan(0);
    expect(dated).toEqual([...dated].sort().reverse());
    expect(dates.slice(0, dated.length)).toEqual(dated);
    expect(drawn.charts[0].points).toEqual([u.topWords.map((w: any) => w.probability)]);

    await page.selectOption("#pick-compare", vcm);
    drawn = await ready(page);
    expect(await page.locator("section.column").count()).toBe(2);
    const v = (await api(recommendationsQuery, { m: vcm })).user;
    expect(drawn.charts.map((c) => c.points)).toEqual([[u.topWords.map((w: any) => w.probability)], [v.topWords.map((w: any) => w.probability)]]);
    for (const [index, user] of [[0, u], [1, v]] as const) {
      const shown = await rows(page, `section.column:nth-of-type(${index + 2}) table.recommendations`);
      expect(shown.map((r) => r[1])).toEqual(user.recommendations.map((r: any) => name(r.item)));
      user.recommendations.forEach((r: any, i: number) => {
        for (const w of r.explanation.words) expect(shown[i][3]).toContain(w.word);
        for (const c of r.explanation.clicks) expect(shown[i][3]).toContain(name(c.item));
      });
    }
    expect(await page.locator(".reason-clicks a").count()).toBeGreaterThan(0);
    expect(await page.locator(".review span.level-high, .review span.level-medium, .review span.level-low").count()).toBeGreaterThan(0);

    // What if: the first training click removed and the top recommendation added as a click.
    await page.locator('#whatif input[data-kind="click"]').first().uncheck();
    await page.locator('#whatif input[data-kind="add"]').first().check();
    await page.click("#whatif-form button");
    await page.waitForSelector('#whatif-result[data-ready="true"]');
    const whatIf = (await page.evaluate(() => window.vcmDashboard.whatIf))!;
    const clicks = (await api(`{ user(id: 3) { clicks(first: 100, split: [TRAIN]) { edges { node { item { externalId } } } } } }`)).user.clicks.edges.map((e: any) => e.node.item.externalId);
    expect(whatIf.clicks.sort()).toEqual([...clicks.slice(1), u.recommendations[0].item.externalId].sort());
    const whatIfQuery = `query ($m: ID!, $c: [String!]!, $t: String) { recommendFor(modelId: $m, clicks: $c, text: $t, k: 8) { recommendations { item { externalId } } } }`;
    const expected = (await api(whatIfQuery, { m: se, c: whatIf.clicks })).recommendFor.recommendations.map((r: any) => r.item.externalId);
    expect(whatIf.ranking).toEqual(expected);
    expect(expected).not.toContain(u.recommendations[0].item.externalId);
    expect((await rows(page, "#whatif-result")).map((r) => r[3])).toContain("new");
    // A typed text joins the clicks.
    await page.fill("#whatif-text", "sushi roll tuna sashimi");
    await page.click("#whatif-form button");
    await page.waitForSelector('#whatif-result[data-ready="true"]');
    const withText = (await page.evaluate(() => window.vcmDashboard.whatIf))!;
    expect(withText.ranking).toEqual((await api(whatIfQuery, { m: se, c: withText.clicks, t: "sushi roll tuna sashimi" })).recommendFor.recommendations.map((r: any) => r.item.externalId));

    // Beside a popularity baseline, which has no words: its column shows the API's sentence and its ranking, the other column stays whole.
    await page.selectOption("#pick-compare", popularity);
    drawn = await ready(page);
    const refusal = await fetch(`${base}/graphql`, { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify({ query: `{ user(id: 3) { topWords(modelId: "${popularity}") { word } } }` }) });
    const sentence = ((await refusal.json()) as { errors: Array<{ message: string }> }).errors[0].message;
    expect(await page.locator(`section.column[data-model="${popularity}"] .error`).textContent()).toBe(sentence);
    const baseline = (await api(`query ($m: ID!) { user(id: 3) { recommendations(modelId: $m, k: 8) { item { externalId title } } } }`, { m: popularity })).user.recommendations;
    expect((await rows(page, `section.column[data-model="${popularity}"] table.recommendations`)).map((r) => r[1])).toEqual(baseline.map((r: any) => name(r.item)));
    expect(drawn.charts.map((c) => c.points)).toEqual([[u.topWords.map((w: any) => w.probability)]]);
    expect(await page.locator(`section.column[data-model="${se}"] .reason`).count()).toBeGreaterThan(0);
    await done(page, "user.png", first);
  });

  it("item view: reached from a recommendation, with categories, popularity, characteristic words and the users it is recommended to with reasons", async () => {
    const first = await firstPage();
    const { page } = first;
    await view(page, "user");
    await page.click("#user-list tbody tr:first-child a");
    await ready(page);
    const link = page.locator("table.recommendations tbody tr:first-child td:nth-child(2) a");
    const title = await link.textContent();
    await link.click();
    const drawn = await ready(page);
    expect(drawn.view).toBe("item");
    const id = new URL(page.url()).searchParams.get("item");
    const item = (await api(`query ($i: ID!, $m: ID!) { item(id: $i) {
      externalId title categories trainClickCount clickCount characteristicWords(k: 12) { word lift }
      recommendedTo(modelId: $m, k: 10) { users { rank user { externalId name } } reasons { words { word users } clicks { users item { externalId title } } unexplained } }
    } }`, { i: id, m: se })).item;
    expect(await page.locator("h2").textContent()).toBe(`Item ${title}`);
    expect(await rows(page, "#item-facts")).toEqual([[item.externalId, item.categories.join(", ") || "–", String(item.trainClickCount), String(item.clickCount)]]);
    expect(await rows(page, "#item-words")).toEqual(item.characteristicWords.map((w: any) => [w.word, w.lift.toFixed(2), expect.any(String)]));
    expect(drawn.charts[0].points).toEqual([item.characteristicWords.map((w: any) => w.lift)]);
    const audience = item.recommendedTo;
    expect((await rows(page, "#audience-table")).map((r) => [r[0], r[1]])).toEqual(audience.users.map((u: any) => [u.user.name ? `${u.user.name} (${u.user.externalId})` : u.user.externalId, String(u.rank)]));
    expect((await rows(page, "#reason-words")).map((r) => [r[0], r[1]])).toEqual(audience.reasons.words.map((w: any) => [w.word, String(w.users)]));
    expect((await rows(page, "#reason-clicks")).map((r) => r[1])).toEqual(audience.reasons.clicks.map((c: any) => String(c.users)));
    // Under a popularity baseline the audience is refused with the API's sentence; the rest of the item stays drawn.
    await page.selectOption("#pick-model", popularity);
    await ready(page);
    const refusal = await fetch(`${base}/graphql`, { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify({ query: `{ item(id: ${id}) { recommendedTo(modelId: "${popularity}") { usersScored } } }` }) });
    expect(await page.locator("#audience .error").textContent()).toBe(((await refusal.json()) as { errors: Array<{ message: string }> }).errors[0].message);
    expect(await rows(page, "#item-facts")).toHaveLength(1);
    await page.selectOption("#pick-model", se);
    await ready(page);
    await page.screenshot({ path: path.join(shots, "item-view.png"), fullPage: true });
    // On to one of those users, by a click.
    await page.click("#audience-table tbody tr:first-child a");
    expect((await ready(page)).view).toBe("user");
    await done(page, "item.png", first);
  });

  it("experiments view: the list with status and progress, live while one runs, then its tables and Vega-Lite figures drawn offline", async () => {
    const first = await firstPage();
    const { page } = first;
    await page.selectOption("#pick-dataset", EXPERIMENT_DATASET);
    await ready(page);
    // A second experiment, started just before the view opens, is queued or running when it draws.
    const live = (await api(`mutation ($input: StartExperimentInput!) { startExperiment(input: $input) { id } }`, { input: { dataset: EXPERIMENT_DATASET, models: ["VCM"], seeds: 1, epochs: 1 } })).startExperiment.id;
    await view(page, "experiments");
    const status = (id: string) => page.locator(`#experiments-table tbody tr:has(a:text-is("experiment ${id}")) td:nth-child(2)`);
    expect(["queued", "running"]).toContain(await status(live).textContent());
    await page.evaluate(() => { (window as unknown as { sameDocument: boolean }).sameDocument = true; });
    // The page polls while it runs: its row turns finished, its progress full, without a reload.
    await expect.poll(() => status(live).textContent(), { timeout: 240_000, interval: 500 }).toBe("finished");
    expect(await page.evaluate(() => (window as unknown as { sameDocument?: boolean }).sameDocument)).toBe(true);
    await expect.poll(() => status(experimentId).textContent(), { timeout: 240_000, interval: 500 }).toBe("finished");
    await page.click(`#experiments-table a:text-is("experiment ${experimentId}")`);
    const drawn = await ready(page);
    const e = (await api(`query ($e: ID!) { experiment(id: $e) { status runsDone runsTotal results figures { name title } } }`, { e: experimentId })).experiment;
    expect(e.status).toBe("FINISHED");
    // The header offers the models the experiments trained since the page opened.
    const trained = (await api(`query ($n: String!) { dataset(name: $n) { models { id } } }`, { n: EXPERIMENT_DATASET })).dataset.models.map((m: any) => m.id);
    expect(trained.length).toBeGreaterThan(0);
    expect(await page.locator('#pick-model > option').evaluateAll((os: any[]) => os.map((o) => o.value))).toEqual(trained);
    expect(await page.locator("#experiment progress").getAttribute("value")).toBe(String(e.runsDone));
    expect(await page.locator("#experiment table.result-table").evaluateAll((ts: any[]) => ts.map((t) => t.getAttribute("data-name")))).toEqual(Object.keys(e.results));
    const vcmTable = await rows(page, '#experiment table.result-table[data-name="vcm"]');
    const first10 = e.results.vcm[Object.keys(e.results.vcm)[0]]["ndcg@10"];
    // One seed: the mean alone, no standard error.
    expect(first10.standardError).toBeNull();
    expect(vcmTable[0][1]).toMatch(new RegExp(`^${first10.mean.toFixed(4)}( \\*)?$`));
    expect(e.figures.length).toBeGreaterThan(0);
    expect(drawn.figures).toEqual(e.figures.map((f: any) => ({ name: f.name, title: f.title })));
    expect(await page.locator("#experiment .figure-box svg").count()).toBe(e.figures.length);
    await done(page, "experiments.png", first);
  });

  it("shows titles, names and categories with markup as text, runs none of it, in search results, history and the item view", async () => {
    const first = await firstPage();
    const { page } = first;
    await page.fill("#search", "onerror");
    await page.click("#search-form button");
    await page.waitForSelector("#search-results li");
    expect(await page.locator("#search-results").textContent()).toContain(MARKUP_TITLE);
    await page.fill("#search", "Ann");
    await page.click("#search-form button");
    await page.click(`#search-results a:has-text("${user3.externalId}")`);
    await ready(page);
    expect(await page.locator("h2").first().textContent()).toBe(`User ${MARKUP_NAME} (${user3.externalId})`);
    expect((await rows(page, "#history-table")).map((r) => r[0])).toContain(MARKUP_TITLE);
    await page.click(`#history-table a:text-is("${MARKUP_TITLE}")`);
    await ready(page);
    expect(await page.locator("h2").textContent()).toBe(`Item ${MARKUP_TITLE}`);
    expect((await rows(page, "#item-facts"))[0][1]).toBe("<b>bold</b>, plain");
    expect(await page.locator("#dashboard img, #dashboard script, #dashboard b, #search-results img").count()).toBe(0);
    // The address kept each state: the browser's back button returns to the user.
    await page.goBack();
    await ready(page);
    expect(await page.locator("h2").first().textContent()).toBe(`User ${MARKUP_NAME} (${user3.externalId})`);
    await done(page, "markup.png", first);
  });

  it("at phone width (390 × 844) the header and the user view's columns stack and no view scrolls sideways", async () => {
    const first = await firstPage({ width: 390, height: 844 });
    const { page } = first;
    const width = () => page.evaluate(() => document.documentElement.scrollWidth);
    expect(await page.evaluate(() => getComputedStyle(document.querySelector("header#shell")).flexDirection)).toBe("column");
    await page.selectOption("#pick-compare", vcm);
    await ready(page);
    await page.click("#compare-form button");
    await ready(page);
    expect(await width()).toBeLessThanOrEqual(390);
    await view(page, "cohorts");
    expect(await width()).toBeLessThanOrEqual(390);
    await view(page, "user");
    await page.click("#user-list tbody tr:first-child a");
    await ready(page);
    expect(await page.evaluate(() => getComputedStyle(document.querySelector(".columns")).flexDirection)).toBe("column");
    const boxes = await page.locator(".columns > section").evaluateAll((s: any[]) => s.map((e) => e.getBoundingClientRect()).map((r) => ({ x: r.x, width: r.width })));
    expect(boxes).toHaveLength(3);
    // Stacked: each one starts at the same left edge, none beside another.
    for (const b of boxes) expect(b.x).toBe(boxes[0].x);
    expect(await width()).toBeLessThanOrEqual(390);
    await page.screenshot({ path: path.join(shots, "phone-user.png"), fullPage: true });
    await page.click("table.recommendations tbody tr:first-child td:nth-child(2) a");
    await ready(page);
    expect(await width()).toBeLessThanOrEqual(390);
    await page.selectOption("#pick-dataset", EXPERIMENT_DATASET);
    await ready(page);
    await view(page, "experiments");
    await page.click(`#experiments-table a:text-is("experiment ${experimentId}")`);
    await ready(page);
    expect(await width()).toBeLessThanOrEqual(390);
    await done(page, "phone-experiment.png", first);
  });

  it("draws every view, reached by clicks, for an analyst key on a `vcm serve --persisted-only` process, whose answer to an ad-hoc query is PERSISTED_QUERY_ONLY", async () => {
    const children: ChildProcess[] = [];
    try {
      const key = (await createApiKey(fixture.dataSource, { name: "dashboard-analyst", role: "analyst" })).key;
      const env = { ...process.env, VCM_ADMIN_TOKEN: "", PORT: "", VCM_DB: fixture.dbPath, VCM_MODELS_DIR: fixture.config.modelsDir, VCM_EXPERIMENTS_DIR: fixture.config.experimentsDir, VCM_LOG_LEVEL: "silent" };
      const strict = await serveProcess(env, children, ["--persisted-only"]);
      const strictBase = strict.url.replace(/\/graphql$/, "");
      const { page, statuses, errors, requested } = await firstPage({ url: strictBase, key });
      const seen: string[] = [(await page.evaluate(() => window.vcmDashboard)).view];
      await page.selectOption("#pick-compare", vcm);
      await ready(page);
      await page.click("#compare-form button");
      await ready(page);
      expect(await page.locator("#compare-ttest tbody tr").count()).toBeGreaterThan(0);
      seen.push((await view(page, "cohorts")).view);
      seen.push((await view(page, "user")).view);
      await page.click("#user-list tbody tr:first-child a");
      await ready(page);
      await page.locator("#whatif-form button").click();
      await page.waitForSelector('#whatif-result[data-ready="true"]');
      await page.click("table.recommendations tbody tr:first-child td:nth-child(2) a");
      seen.push((await ready(page)).view);
      expect(await page.locator("#audience-table tbody tr").count()).toBeGreaterThan(0);
      await page.fill("#search", user3.externalId);
      await page.click("#search-form button");
      await page.waitForSelector("#search-results a");
      await page.selectOption("#pick-dataset", EXPERIMENT_DATASET);
      await ready(page);
      seen.push((await view(page, "experiments")).view);
      await page.click(`#experiments-table a:text-is("experiment ${experimentId}")`);
      await ready(page);
      expect(seen).toEqual(["models", "cohorts", "user", "item", "experiments"]);
      expect(requested.filter((u) => !u.startsWith(`${strictBase}/`))).toEqual([]);
      expect(errors).toEqual([]);
      expect(statuses.length).toBeGreaterThan(10);
      expect(statuses.filter((s) => s !== 200)).toEqual([]);
      await page.close();
      const adHoc = await fetch(`${strictBase}/graphql`, { method: "POST", headers: { "content-type": "application/json", authorization: `Bearer ${key}` }, body: JSON.stringify({ query: "{ datasets { name } }" }) });
      expect(adHoc.status).toBe(403);
      expect(((await adHoc.json()) as { errors: Array<{ extensions: { code: string } }> }).errors[0].extensions.code).toBe("PERSISTED_QUERY_ONLY");
    } finally {
      for (const child of children) child.kill("SIGTERM");
      await Promise.all(children.map((child) => (child.exitCode === null ? once(child, "exit") : undefined)));
    }
  }, 240_000);

  /** Opens a shared link and returns the view's GraphQL requests (the header's list of datasets aside) and what it showed. */
  async function sent(query: string): Promise<{ bodies: Array<{ query: string; variables: Record<string, unknown> }>; ready: string | null; error: string | null; headings: string[]; columnErrors: string[]; tables: number }> {
    const page = await browser.newPage();
    const bodies: Array<{ query: string; variables: Record<string, unknown> }> = [];
    page.on("request", (request) => {
      if (new URL(request.url()).pathname !== "/graphql") return;
      const body = JSON.parse(request.postData() ?? "{}");
      if (!String(body.query).startsWith("query DashboardShell")) bodies.push(body);
    });
    await page.goto(`${base}/dashboard?${query}`);
    await page.waitForSelector("#dashboard[data-ready]", { timeout: 30_000 });
    const ready = await page.locator("#dashboard").getAttribute("data-ready");
    const error = await page.evaluate(() => window.vcmDashboard.error);
    const headings = await page.locator("h2").allTextContents();
    const columnErrors = await page.locator("section.column .error").allTextContents();
    const tables = await page.locator("#dashboard table").count();
    await page.close();
    return { bodies, ready, error, headings, columnErrors, tables };
  }

  it("sends a shared link's model and compare ids as variables: a crafted link changes no document and shows an error, not its query's data", async () => {
    const injected = `1"){__schema{types{name}}}#`;
    const sentence = `Model id "${injected}" is not valid; ids are positive integers.`;
    const carrying = (bodies: Array<{ query: string; variables: Record<string, unknown> }>) => bodies.filter((b) => Object.values(b.variables).includes(injected));
    // Cohorts: one document for the view, so the view shows the sentence and nothing else.
    const good = await sent(`view=cohorts&model=${vcm}&compare=${se}`);
    const bad = await sent(`view=cohorts&model=${encodeURIComponent(injected)}&compare=${encodeURIComponent(injected)}`);
    expect(good.ready).toBe("true");
    expect(bad.bodies).toHaveLength(1);
    // The very document of an ordinary link; the crafted value only in the variables.
    expect(bad.bodies[0].query).toBe(good.bodies[0].query);
    expect(bad.bodies[0].query).not.toContain("__schema");
    expect(carrying(bad.bodies)).toHaveLength(1);
    expect(bad.ready).toBe("error");
    expect(bad.error).toBe(sentence);
    expect(bad.headings).toEqual([]);
    // A user's view: the history is drawn, and each crafted model's column shows the sentence instead of data.
    for (const [plain, crafted] of [
      [`view=user&user=3&model=${vcm}&compare=${se}`, `view=user&user=3&model=${encodeURIComponent(injected)}&compare=${encodeURIComponent(injected)}`],
      [`view=user&user=3&model=${vcm}`, `view=user&user=3&model=${encodeURIComponent(injected)}`],
    ]) {
      const ordinary = await sent(plain);
      const forged = await sent(crafted);
      expect(ordinary.ready).toBe("true");
      expect(carrying(forged.bodies).length).toBeGreaterThan(0);
      const documents = new Set(ordinary.bodies.map((b) => b.query));
      for (const body of forged.bodies) {
        expect(body.query).not.toContain("__schema");
        // Every document the crafted link sent is one an ordinary link sends, or the ranking asked after a refusal.
        expect(documents.has(body.query) || body.query.startsWith("query DashboardUserRanking"), body.query.slice(0, 40)).toBe(true);
      }
      // The same crafted id twice is one model: one column.
      expect(forged.columnErrors).toEqual([sentence]);
      expect(forged.tables).toBe(1);
    }
  });
});
