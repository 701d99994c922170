/**
 * Named entities that turn up in product and business metadata (Amazon titles and categories are
 * HTML-escaped); an entity not listed here is left as written.
 */
const NAMED_ENTITIES: Readonly<Record<string, string>> = {
  amp: "&",
  lt: "<",
  gt: ">",
  quot: '"',
  apos: "'",
  nbsp: "\u00a0",
  copy: "\u00a9",
  reg: "\u00ae",
  trade: "\u2122",
  deg: "\u00b0",
  plusmn: "\u00b1",
  times: "\u00d7",
  divide: "\u00f7",
  frac12: "\u00bd",
  frac14: "\u00bc",
  frac34: "\u00be",
  micro: "\u00b5",
  middot: "\u00b7",
  para: "\u00b6",
  sect: "\u00a7",
  cent: "\u00a2",
  pound: "\u00a3",
  euro: "\u20ac",
  yen: "\u00a5",
  laquo: "\u00ab",
  raquo: "\u00bb",
  lsquo: "\u2018",
  rsquo: "\u2019",
  sbquo: "\u201a",
  ldquo: "\u201c",
  rdquo: "\u201d",
  bdquo: "\u201e",
  ndash: "\u2013",
  mdash: "\u2014",
  hellip: "\u2026",
  bull: "\u2022",
  prime: "\u2032",
  Prime: "\u2033",
  iexcl: "\u00a1",
  iquest: "\u00bf",
  shy: "\u00ad",
  eacute: "\u00e9",
  Eacute: "\u00c9",
  egrave: "\u00e8",
  ecirc: "\u00ea",
  euml: "\u00eb",
  aacute: "\u00e1",
  agrave: "\u00e0",
  acirc: "\u00e2",
  auml: "\u00e4",
  Auml: "\u00c4",
  aring: "\u00e5",
  atilde: "\u00e3",
  ccedil: "\u00e7",
  iacute: "\u00ed",
  iuml: "\u00ef",
  ntilde: "\u00f1",
  Ntilde: "\u00d1",
  oacute: "\u00f3",
  ocirc: "\u00f4",
  ouml: "\u00f6",
  Ouml: "\u00d6",
  oslash: "\u00f8",
  uacute: "\u00fa",
  ugrave: "\u00f9",
  uuml: "\u00fc",
  Uuml: "\u00dc",
  szlig: "\u00df",
};

const ENTITY = /&(?:#(\d{1,8})|#[xX]([0-9a-fA-F]{1,7})|([A-Za-z][A-Za-z0-9]{1,31}));/g;

/**
 * Decodes HTML character references (`&amp;`, `&#39;`, `&#x27;`, the common named ones) in one pass,
 * so `&amp;amp;` becomes `&amp;` as a browser shows it; a numeric reference to no character gives U+FFFD.
 */
export function decodeHtmlEntities(text: string): string {
  if (!text.includes("&")) return text;
  return text.replace(ENTITY, (whole: string, decimal?: string, hex?: string, name?: string) => {
    if (name !== undefined) return Object.hasOwn(NAMED_ENTITIES, name) ? NAMED_ENTITIES[name] : whole;
    const code = decimal !== undefined ? Number.parseInt(decimal, 10) : Number.parseInt(hex ?? "", 16);
    return fromCodePoint(code);
  });
}

/** A code point as text, or U+FFFD for zero, surrogates and values past U+10FFFF (as HTML does). */
function fromCodePoint(code: number): string {
  if (code === 0 || code > 0x10ffff || (code >= 0xd800 && code <= 0xdfff)) return "\ufffd";
  return String.fromCodePoint(code);
}
