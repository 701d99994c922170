import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import zlib from "node:zlib";
import { afterAll, describe, expect, it } from "vitest";
import { decodeHtmlEntities } from "../../src/data/metadata/html-entities.ts";
import { parsePythonLiteral } from "../../src/data/metadata/python-literal.ts";
import { type ItemMetadata, type MetadataFormat, readItemMetadata } from "../../src/data/metadata/read-item-metadata.ts";
import { SkipCounter } from "../../src/data/skips.ts";
import { ErrorCode, UserError } from "../../src/errors.ts";

const FIXTURES = path.resolve("test", "fixtures", "metadata");
const dir = fs.mkdtempSync(path.join(os.tmpdir(), "vcm-metadata-"));
afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

const fixture = (name: string): string => path.join(FIXTURES, name);

function tempFile(name: string, content: string | Buffer): string {
  const target = path.join(dir, name);
  fs.writeFileSync(target, content);
  return target;
}

interface Read {
  items: ItemMetadata[];
  lines: number[];
  accepted: number;
  skips: SkipCounter;
}

async function read(file: string, format: MetadataFormat): Promise<Read> {
  const result: Read = { items: [], lines: [], accepted: 0, skips: new SkipCounter() };
  const { accepted } = await readItemMetadata({
    file,
    format,
    skips: result.skips,
    onItem: (item, line) => {
      result.items.push(item);
      result.lines.push(line);
    },
  });
  result.accepted = accepted;
  return result;
}

/** The UserError a read throws (fails the test when it does not throw one). */
async function refusal(file: string, format: MetadataFormat): Promise<UserError> {
  try {
    await read(file, format);
  } catch (error) {
    expect(error).toBeInstanceOf(UserError);
    return error as UserError;
  }
  throw new Error(`Reading ${path.basename(file)} as ${format} did not throw.`);
}

describe("parsePythonLiteral", () => {
  it("reads repr() output: either quote, escapes, True/False/None, numbers, tuples", () => {
    expect(parsePythonLiteral(`{'a': "Men's", 'b': 'It\\'s', 'c': [1, -2.5, 3e2, 7L], 'd': (True, False, None), 'e': {}}`)).toEqual({
      a: "Men's",
      b: "It's",
      c: [1, -2.5, 300, 7],
      d: [true, false, null],
      e: {},
    });
    expect(parsePythonLiteral(String.raw`'a\\b\n\t\x41\u00e9\U0001F600\101\q'`)).toBe("a\\b\n\tAé😀A\\q");
    expect(parsePythonLiteral(String.raw`u'caf\xe9'`)).toBe("café");
    expect(parsePythonLiteral(String.raw`'Caf\xc3\xa9'`)).toBe("Café");
    expect(parsePythonLiteral(String.raw`r'a\nb'`)).toBe("a\\nb");
    expect(parsePythonLiteral("[1, 2,]")).toEqual([1, 2]);
    expect(parsePythonLiteral("(1,)")).toEqual([1]);
    expect(parsePythonLiteral("(1)")).toBe(1);
    expect(parsePythonLiteral("{1: 'one', 'a': 1, 'a': 2}")).toEqual({ "1": "one", a: 2 });
  });

  it("keeps a __proto__ key as an ordinary key", () => {
    const value = parsePythonLiteral("{'__proto__': {'polluted': 1}}") as Record<string, unknown>;
    expect(Object.getPrototypeOf(value)).toBe(Object.prototype);
    expect(Object.keys(value)).toEqual(["__proto__"]);
    expect(({} as Record<string, unknown>).polluted).toBeUndefined();
  });

  it.each([
    ["{'a': 'never closed}", /never closed/],
    ["{'a': 1", /ends where a value was expected|expected ','/],
    ["{'a' 1}", /expected ':'/],
    ["{'a': 1} x", /after the value/],
    ["{'a': 1,, 'b': 2}", /unexpected ","/],
    ["{1, 2}", /expected ':'/],
    ["{'a': nan}", /unknown name "nan"/],
    ["{'a': true}", /unknown name "true"/],
    ["{'a': 1j}", /malformed number/],
    ["{['a']: 1}", /not a string or a number/],
    ["'\\x4'", /two hex digits/],
    ["'line\nbreak'", /line break/],
    ["[".repeat(500) + "]".repeat(500), /nesting deeper/],
  ])("refuses %j", (text, message) => {
    expect(() => parsePythonLiteral(text)).toThrow(SyntaxError);
    expect(() => parsePythonLiteral(text)).toThrow(message);
  });
});

describe("decodeHtmlEntities", () => {
  it("decodes named, decimal and hex references once, and leaves unknown ones", () => {
    expect(decodeHtmlEntities("Tom &amp; Jerry&#39;s")).toBe("Tom & Jerry's");
    expect(decodeHtmlEntities("&quot;&#x27;&#X27;&lt;b&gt;&apos;&mdash;&#8364;")).toBe("\"''<b>'—€");
    expect(decodeHtmlEntities("&amp;amp; &bogus; & alone &#0; &#x110000;")).toBe("&amp; &bogus; & alone \ufffd \ufffd");
  });
});

describe("amazon 2014 (Python literals)", () => {
  it("reads every layout quirk and skips broken lines with their numbers", async () => {
    const { items, lines, accepted, skips } = await read(fixture("amazon-2014-meta.json"), "amazon");
    expect(accepted).toBe(6);
    expect(lines).toEqual([1, 2, 3, 5, 8, 9]);
    expect(skips.counts()).toEqual({ brokenJson: 1, missingItemId: 1 });
    expect(skips.firstLines()).toEqual({ brokenJson: [4], missingItemId: [7] });

    expect(items[0]).toEqual({
      externalId: "0000031852",
      title: "Girls Ballet Tutu Zebra Hot Pink",
      categories: ["Sports & Outdoors", "Other Sports", "Dance"],
      attributes: { brand: "Coxlists", price: 3.17, salesRank: { "Toys & Games": 211836 } },
    });
    expect(items[1].categories).toEqual([
      "Clothing, Shoes & Jewelry",
      "Girls",
      "Novelty, Costumes & More",
      "Costumes & Accessories",
      "More Accessories",
      "Kids & Baby",
    ]);
    expect(items[2]).toEqual({
      externalId: "B00005N7P0",
      title: "Levi's Men's 501 Original Fit Jean",
      categories: ["Clothing, Shoes & Jewelry", "Men", "Clothing", "Jeans", "Levi's"],
      attributes: { brand: "Levi's", salesRank: { Clothing: 5821 } },
    });
    // None price and an empty salesRank are left out; '' and ' Coffee ' categories are dropped and trimmed.
    expect(items[3]).toEqual({
      externalId: "B0000DIWNI",
      title: "Café Bustelo – Espresso 'Dark' Roast",
      categories: ["Grocery & Gourmet Food", "Beverages", "Coffee"],
      attributes: {},
    });
    expect(items[4]).toEqual({ externalId: "B00EMPTYTI", title: null, categories: [], attributes: {} });
    expect(items[5]).toEqual({
      externalId: "B00TOMJERR",
      title: "Tom & Jerry's Chase 'Em <DVD>",
      categories: ["Movies & TV", "Movies"],
      attributes: { brand: "Warner Home Video" },
    });
  });

  it("reads the same file gzipped, and reports bytes", async () => {
    const gz = tempFile("meta_Toys.json.gz", zlib.gzipSync(fs.readFileSync(fixture("amazon-2014-meta.json"))));
    const plain = await read(fixture("amazon-2014-meta.json"), "amazon");
    const progress: Array<[number, number]> = [];
    const items: ItemMetadata[] = [];
    const { accepted } = await readItemMetadata({
      file: gz,
      format: "amazon",
      skips: new SkipCounter(),
      onItem: (item) => items.push(item),
      onBytes: (done, total) => progress.push([done, total]),
    });
    expect(accepted).toBe(6);
    expect(items).toEqual(plain.items);
    const size = fs.statSync(gz).size;
    expect(progress.at(-1)).toEqual([size, size]);
  });
});

describe("amazon 2018 and 2023 (JSON lines)", () => {
  it("maps 2018 category, main_cat and price, and skips bad records by line", async () => {
    const { items, lines, skips } = await read(fixture("amazon-2018-meta.json"), "amazon");
    expect(lines).toEqual([1, 2]);
    expect(items[0]).toEqual({
      externalId: "B00007GDFV",
      title: "Tom & Jerry's Summer Dress",
      categories: ["Clothing, Shoes & Jewelry", "Women", "Clothing", "Dresses"],
      attributes: { brand: "Generic", main_cat: "AMAZON FASHION", price: "$12.99" },
    });
    // The logo-image main_cat gives its alt text; CSS scraped into price is not a price.
    expect(items[1]).toEqual({ externalId: "5555991584", title: null, categories: [], attributes: { main_cat: "Digital Music" } });
    expect(skips.firstLines()).toEqual({ brokenJson: [3], missingItemId: [4], notAnObject: [5] });
  });

  it("uses parent_asin as the 2023 id", async () => {
    const { items, skips } = await read(fixture("amazon-2023-meta.jsonl"), "amazon");
    expect(skips.total).toBe(0);
    expect(items).toEqual([
      {
        externalId: "B01CUPMQZE",
        title: "Howard LC0008 Leather Conditioner, 8-Ounce (4-Pack)",
        categories: [],
        attributes: { main_category: "All Beauty", store: "Howard Products", average_rating: 4.8, rating_number: 10 },
      },
      {
        externalId: "B076WQZGPM",
        title: "Yes to Tomatoes Detoxifying Charcoal Cleanser (Pack of 2)",
        categories: ["Beauty & Personal Care", "Skin Care", "Face", "Cleansers"],
        attributes: { price: 19.99, main_category: "All Beauty", store: "Yes To", average_rating: 4.5, rating_number: 3 },
      },
    ]);
  });
});

describe("yelp business.json", () => {
  it("splits comma-separated categories and keeps city, state, stars", async () => {
    const { items, lines, skips } = await read(fixture("yelp-business.json"), "yelp");
    expect(lines).toEqual([1, 2, 3, 5]);
    expect(items[0]).toEqual({
      externalId: "Pns2l4eNsfO8kk83dixA6A",
      title: "Abby Rappoport, LAC, CMQ",
      categories: ["Doctors", "Traditional Chinese Medicine", "Naturopathic/Holistic", "Acupuncture", "Health & Medical", "Nutritionists"],
      attributes: { city: "Santa Barbara", state: "CA", stars: 5 },
    });
    expect(items[2]).toEqual({ externalId: "tUFrWirKiKi_TAnsVWINQQ", title: "Target", categories: [], attributes: { city: "Tucson", state: "AZ", stars: 3.5 } });
    expect(items[3].categories).toEqual(["Brewpubs", "Breweries", "Food"]);
    expect(skips.firstLines()).toEqual({ brokenJson: [4], missingItemId: [6] });
  });
});

describe("tsv metadata", () => {
  it("takes the id from the first column, title, | or , tags, and other columns as attributes", async () => {
    const { items, lines, skips } = await read(fixture("items.tsv"), "tsv");
    expect(lines).toEqual([2, 3, 6]);
    expect(items).toEqual([
      { externalId: "i1", title: "Tom & Jerry", categories: ["comedy", "cartoon", "classic"], attributes: { brand: "MGM", price: "9.99" } },
      { externalId: "i2", title: null, categories: ["drama", "thriller"], attributes: { brand: "Fox", price: "12", notes: "rare" } },
      { externalId: "i4", title: "Fourth", categories: ["a", "b"], attributes: { brand: "B", price: "1", notes: "n" } },
    ]);
    expect(skips.firstLines()).toEqual({ tooFewFields: [4], missingItemId: [5] });
  });

  it("reads a header without a title column, gzipped", async () => {
    const file = tempFile("skus.tsv.gz", zlib.gzipSync("sku\tcolor\t\ns1\tred\tx\n"));
    const { items } = await read(file, "tsv");
    expect(items).toEqual([{ externalId: "s1", title: null, categories: [], attributes: { color: "red", column3: "x" } }]);
  });
});

describe("files of the wrong format", () => {
  const expectSentence = (error: UserError, parts: ReadonlyArray<string | RegExp>): void => {
    expect(error.code).toBe(ErrorCode.BAD_USER_INPUT);
    expect(error.message).toMatch(/^[A-Z0-9a-z].*\.$/);
    expect(error.message).not.toContain(FIXTURES);
    expect(error.message).not.toContain(dir);
    for (const part of parts) expect(error.message).toMatch(part);
  };

  it("refuses an Amazon reviews file read as metadata", async () => {
    const error = await refusal(fixture("reviews-2018.json"), "amazon");
    expectSentence(error, ["reviews-2018.json is not Amazon item metadata", '"reviewerID"', '"asin"', "parent_asin"]);
  });

  it("refuses a Yelp review file read as businesses", async () => {
    const error = await refusal(fixture("yelp-review.json"), "yelp");
    expectSentence(error, ["yelp-review.json is not a Yelp business file", '"review_id"', '"business_id" and "name"']);
  });

  it("refuses a CSV and an interactions file read as TSV", async () => {
    expectSentence(await refusal(fixture("items.csv"), "tsv"), ["items.csv is not tab-separated item metadata: its first line has no tab"]);
    const interactions = tempFile("ratings.tsv", "user_id\titem_id\trating\nu1\ti1\t5\n");
    expectSentence(await refusal(interactions, "tsv"), ["ratings.tsv is not tab-separated item metadata", '"user_id"']);
  });

  it("refuses a CSV, a binary file and a TSV read as Amazon", async () => {
    expectSentence(await refusal(fixture("items.csv"), "amazon"), ["items.csv is not Amazon item metadata", "item_id,title"]);
    const png = tempFile("cover.png", Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a, 0, 0, 0, 13, 0x49, 0x48, 0x44, 0x52]));
    expectSentence(await refusal(png, "amazon"), ["cover.png is not a text file"]);
    expectSentence(await refusal(fixture("items.tsv"), "yelp"), ["items.tsv is not Yelp business JSON"]);
  });

  it("refuses a file whose every record is broken, listing the skips", async () => {
    const broken = tempFile("meta_broken.json", "{'asin': 'a\n{'asin': 'b', 'title': }\n");
    expectSentence(await refusal(broken, "amazon"), [
      "No record in meta_broken.json is a valid Amazon item metadata (asin or parent_asin) record",
      "brokenJson: 2 (first at line 1, 2)",
    ]);
  });

  it("names a missing file by its base name only", async () => {
    const error = await refusal(path.join(dir, "nested", "meta_missing.json"), "amazon");
    expectSentence(error, ["Cannot read the metadata file meta_missing.json: there is no such file."]);
  });
});
