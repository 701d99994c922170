/**
 * An offline GraphQL IDE: GraphiQL 3 and React 18 served from node_modules (their UMD builds), so the
 * page works on a machine without internet, unlike Apollo's CDN-loaded landing page.
 */
import { createRequire } from "node:module";
import path from "node:path";
import { SIGN_IN_SCRIPT, SIGN_IN_SCRIPT_NAME } from "./sign-in.ts";
import { StaticFiles, type StaticResponse } from "./static-files.ts";

const require = createRequire(import.meta.url);

/** URL prefix of the IDE's static files. */
export const IDE_ASSET_PREFIX = "/ide/";

/** The query the IDE opens with. */
export const IDE_DEFAULT_QUERY = `# The VCM analytics API. Ctrl-Enter runs the query; the Docs button lists every field.
{
  datasets {
    name
    statistics { users items interactions sparsity vocabularySize }
    models { id variant status testMetrics { ndcgAt10 recallAt20 } }
  }
}
`;

interface Asset {
  readonly file: string;
  readonly type: string;
}

/** The only files the IDE serves (a fixed map, so no request can reach any other path). */
const ASSETS: Readonly<Record<string, Asset>> = {
  "graphiql.min.css": { file: require.resolve("graphiql/graphiql.min.css"), type: "text/css; charset=utf-8" },
  "graphiql.min.js": { file: require.resolve("graphiql/graphiql.min.js"), type: "text/javascript; charset=utf-8" },
  "react.production.min.js": {
    file: path.join(path.dirname(require.resolve("react")), "umd", "react.production.min.js"),
    type: "text/javascript; charset=utf-8",
  },
  "react-dom.production.min.js": {
    file: path.join(path.dirname(require.resolve("react-dom")), "umd", "react-dom.production.min.js"),
    type: "text/javascript; charset=utf-8",
  },
};

/** Starts GraphiQL against the endpoint; kept in a file of its own so the page needs no inline script. */
function startScript(endpoint: string): string {
  return `"use strict";
(function () {
  // The sign-in script sends the key this tab signed in with, and asks for one on a 401 (sign-in.ts).
  var fetcher = GraphiQL.createFetcher({ url: new URL(${JSON.stringify(endpoint)}, window.location.href).toString(), fetch: window.vcmSignIn.fetch });
  var root = ReactDOM.createRoot(document.getElementById("graphiql"));
  root.render(React.createElement(GraphiQL, {
    fetcher: fetcher,
    defaultQuery: ${JSON.stringify(IDE_DEFAULT_QUERY)},
    defaultEditorToolbarOpen: true,
    shouldPersistHeaders: false
  }));
})();
`;
}

/** The IDE page. */
export function ideHtml(): string {
  return `<!doctype html>
<html lang="en">
<head>
  <meta charset="utf-8" />
  <meta name="viewport" content="width=device-width, initial-scale=1" />
  <title>VCM analytics · GraphiQL</title>
  <link rel="stylesheet" href="${IDE_ASSET_PREFIX}graphiql.min.css" />
  <style>html, body, #graphiql { height: 100%; margin: 0; }</style>
</head>
<body>
  <div id="graphiql">Loading GraphiQL…</div>
  <script src="${IDE_ASSET_PREFIX}${SIGN_IN_SCRIPT_NAME}"></script>
  <script src="${IDE_ASSET_PREFIX}react.production.min.js"></script>
  <script src="${IDE_ASSET_PREFIX}react-dom.production.min.js"></script>
  <script src="${IDE_ASSET_PREFIX}graphiql.min.js"></script>
  <script src="${IDE_ASSET_PREFIX}start.js"></script>
</body>
</html>
`;
}

/** Serves the IDE's files (start.js is made for the endpoint); null for a name that is not an IDE file. */
export class IdeAssets {
  private readonly files = new StaticFiles(ASSETS);

  constructor(private readonly endpoint: string) {}

  page(): StaticResponse {
    return { type: "text/html; charset=utf-8", body: ideHtml() };
  }

  async asset(name: string): Promise<StaticResponse | null> {
    if (name === "start.js") return { type: "text/javascript; charset=utf-8", body: startScript(this.endpoint) };
    if (name === SIGN_IN_SCRIPT_NAME) return { type: "text/javascript; charset=utf-8", body: SIGN_IN_SCRIPT };
    return this.files.get(name);
  }
}
