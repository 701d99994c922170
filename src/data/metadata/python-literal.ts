import { isUtf8 } from "node:buffer";

/** One-character escapes and what they stand for. */
const SIMPLE_ESCAPES: Readonly<Record<string, string>> = {
  "\\": "\\",
  "'": "'",
  '"': '"',
  a: "\x07",
  b: "\b",
  f: "\f",
  n: "\n",
  r: "\r",
  t: "\t",
  v: "\v",
};
const IDENTIFIER_START = /[A-Za-z_]/;
const IDENTIFIER_PART = /[A-Za-z0-9_]/;

/** Deepest nesting accepted; metadata records nest three or four levels, and this keeps the stack safe. */
const MAX_DEPTH = 200;

/**
 * Parses one Python literal, the way `ast.literal_eval` reads what Python's `repr()` writes: dicts,
 * lists, tuples (as arrays), strings in either quote with an optional u/b/r prefix, ints (an `L`
 * suffix allowed), floats, True, False and None (as null). Dict keys must be strings or numbers
 * (numbers become their decimal text). Throws a SyntaxError naming the offset for anything else,
 * so a truncated or garbled record is never half-read.
 */
export function parsePythonLiteral(text: string): unknown {
  const parser = new PythonLiteralParser(text);
  const value = parser.value(0);
  parser.skipSpace();
  if (!parser.atEnd()) throw parser.fail("unexpected text after the value");
  return value;
}

/** Recursive-descent reader over one string; the offset is the only state. */
class PythonLiteralParser {
  private at = 0;
  /** A number as repr() writes it (an `L` ends a Python 2 long); sticky, so it matches at the offset, and per parser, since it keeps that offset. */
  private readonly numberPattern = /[-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?[lL]?/y;

  constructor(private readonly text: string) {}

  atEnd(): boolean {
    return this.at >= this.text.length;
  }

  skipSpace(): void {
    while (this.at < this.text.length) {
      const c = this.text.charCodeAt(this.at);
      if (c === 32 || c === 9 || c === 10 || c === 13 || c === 12 || c === 11) this.at += 1;
      else break;
    }
  }

  fail(what: string): SyntaxError {
    return new SyntaxError(`Not a Python literal: ${what} at offset ${this.at}.`);
  }

  value(depth: number): unknown {
    if (depth > MAX_DEPTH) throw this.fail(`nesting deeper than ${MAX_DEPTH}`);
    this.skipSpace();
    if (this.atEnd()) throw this.fail("the text ends where a value was expected");
    const c = this.text[this.at];
    if (c === "{") return this.dict(depth);
    if (c === "[") return this.sequence({ close: "]", depth });
    if (c === "(") return this.sequence({ close: ")", depth });
    if (c === "'" || c === '"') return this.string({ raw: false });
    if (c === "-" || c === "+" || c === "." || (c >= "0" && c <= "9")) return this.number();
    if (IDENTIFIER_START.test(c)) return this.word();
    throw this.fail(`unexpected ${JSON.stringify(c)}`);
  }

  private dict(depth: number): Record<string, unknown> {
    this.at += 1;
    const entries: Record<string, unknown> = {};
    for (;;) {
      this.skipSpace();
      if (this.text[this.at] === "}") {
        this.at += 1;
        return entries;
      }
      const key = this.value(depth + 1);
      if (typeof key !== "string" && typeof key !== "number") throw this.fail("a dict key that is not a string or a number");
      this.skipSpace();
      if (this.text[this.at] !== ":") throw this.fail("expected ':' after a dict key");
      this.at += 1;
      const name = String(key);
      const value = this.value(depth + 1);
      // Assigning "__proto__" would replace the prototype; defining it keeps it an ordinary key.
      if (name === "__proto__") Object.defineProperty(entries, name, { value, enumerable: true, writable: true, configurable: true });
      else entries[name] = value;
      if (!this.separator("}")) throw this.fail("expected ',' or '}' in a dict");
    }
  }

  /** A list or a tuple; `(x)` without a comma is just x in parentheses, as in Python. */
  private sequence(options: { close: "]" | ")"; depth: number }): unknown {
    const { close, depth } = options;
    this.at += 1;
    const items: unknown[] = [];
    let sawComma = false;
    for (;;) {
      this.skipSpace();
      if (this.text[this.at] === close) {
        this.at += 1;
        return close === ")" && items.length === 1 && !sawComma ? items[0] : items;
      }
      items.push(this.value(depth + 1));
      if (!this.separator(close)) throw this.fail(`expected ',' or '${close}'`);
      sawComma ||= this.text[this.at - 1] === ",";
    }
  }

  /** After an element: consumes a comma (true), or sees the closing bracket without consuming it (true). */
  private separator(close: string): boolean {
    this.skipSpace();
    const c = this.text[this.at];
    if (c === ",") {
      this.at += 1;
      return true;
    }
    return c === close;
  }

  private word(): unknown {
    const start = this.at;
    while (this.at < this.text.length && IDENTIFIER_PART.test(this.text[this.at])) this.at += 1;
    const word = this.text.slice(start, this.at);
    if (word === "True") return true;
    if (word === "False") return false;
    if (word === "None") return null;
    const quote = this.text[this.at];
    if ((quote === "'" || quote === '"') && /^(?:[uUbB]|[rR]|[bB][rR]|[rR][bB])$/.test(word)) {
      return this.string({ raw: /[rR]/.test(word) });
    }
    this.at = start;
    throw this.fail(`unknown name ${JSON.stringify(word)}`);
  }

  private number(): number {
    this.numberPattern.lastIndex = this.at;
    const match = this.numberPattern.exec(this.text);
    if (match === null) throw this.fail("a malformed number");
    const literal = match[0];
    const after = this.text[this.at + literal.length];
    if (after !== undefined && /[A-Za-z0-9_.]/.test(after)) throw this.fail("a malformed number");
    const value = Number(literal.replace(/[lL]$/, ""));
    if (!Number.isFinite(value)) throw this.fail("a number out of range");
    this.at += literal.length;
    return value;
  }

  /**
   * A single-line string. Runs of `\xNN` escapes that form valid UTF-8 are decoded as UTF-8, because
   * Python 2 (which wrote the 2014 Amazon files) printed byte strings that way; other `\xNN` are code points.
   */
  private string(options: { raw: boolean }): string {
    const quote = this.text[this.at];
    this.at += 1;
    let out = "";
    let bytes: number[] = [];
    const flushBytes = (): void => {
      if (bytes.length === 0) return;
      const buffer = Buffer.from(bytes);
      out += bytes.some((b) => b >= 0x80) && isUtf8(buffer) ? buffer.toString("utf8") : String.fromCharCode(...bytes);
      bytes = [];
    };
    for (;;) {
      if (this.atEnd()) throw this.fail("a string that is never closed");
      const c = this.text[this.at];
      if (c === quote) {
        this.at += 1;
        flushBytes();
        return out;
      }
      if (c === "\n" || c === "\r") throw this.fail("a line break inside a string");
      if (c !== "\\") {
        flushBytes();
        // Copy the run of plain characters up to the next quote, backslash or line break in one slice.
        const start = this.at;
        let end = start + 1;
        while (end < this.text.length) {
          const code = this.text.charCodeAt(end);
          if (code === 92 || code === 10 || code === 13 || this.text[end] === quote) break;
          end += 1;
        }
        out += this.text.slice(start, end);
        this.at = end;
        continue;
      }
      const next = this.text[this.at + 1];
      if (next === undefined) throw this.fail("a string that is never closed");
      if (options.raw) {
        // In a raw string a backslash stays, and only stops the next character from closing the string.
        flushBytes();
        out += c + next;
        this.at += 2;
        continue;
      }
      if (next === "x") {
        const hex = this.text.slice(this.at + 2, this.at + 4);
        if (!/^[0-9a-fA-F]{2}$/.test(hex)) throw this.fail("a \\x escape without two hex digits");
        bytes.push(Number.parseInt(hex, 16));
        this.at += 4;
        continue;
      }
      flushBytes();
      out += this.escape(next);
    }
  }

  /** One escape other than `\x`, starting at the backslash; advances past it and returns its text. */
  private escape(next: string): string {
    if (Object.hasOwn(SIMPLE_ESCAPES, next)) {
      this.at += 2;
      return SIMPLE_ESCAPES[next];
    }
    if (next === "\n") {
      this.at += 2;
      return "";
    }
    if (next === "u" || next === "U") {
      const length = next === "u" ? 4 : 8;
      const hex = this.text.slice(this.at + 2, this.at + 2 + length);
      if (!new RegExp(`^[0-9a-fA-F]{${length}}$`).test(hex)) throw this.fail(`a \\${next} escape without ${length} hex digits`);
      const code = Number.parseInt(hex, 16);
      if (code > 0x10ffff) throw this.fail("a \\U escape past U+10FFFF");
      this.at += 2 + length;
      return String.fromCodePoint(code);
    }
    const octal = /^[0-7]{1,3}/.exec(this.text.slice(this.at + 1, this.at + 4));
    if (octal !== null) {
      this.at += 1 + octal[0].length;
      return String.fromCodePoint(Number.parseInt(octal[0], 8));
    }
    if (next === "N") throw this.fail("a \\N{…} escape (not supported)");
    // Python keeps an unknown escape as written, backslash included.
    this.at += 2;
    return `\\${next}`;
  }
}
