/**
 * The load generator of `npm run bench:api`, run in its own process (so that it does not share the
 * server's event loop): autocannon's API, POSTing the given JSON bodies in turn (one after another
 * over all connections), for a set time. Prints autocannon's result as JSON on stdout.
 *
 *   node --import tsx scripts/bench-api-client.ts <spec.json>
 *   spec: { "url": "http://…/graphql", "headers": { "authorization": "Bearer …" }, "bodies": ["{…}", …], "connections": 10, "seconds": 10 }
 */
import fs from "node:fs";
import autocannon from "autocannon";

interface Spec {
  readonly url: string;
  /** Headers of every request: the content type and the API key. */
  readonly headers: Readonly<Record<string, string>>;
  readonly bodies: ReadonlyArray<string>;
  readonly connections: number;
  readonly seconds: number;
}

const spec = JSON.parse(fs.readFileSync(process.argv[2], "utf8")) as Spec;
if (spec.bodies.length === 0) throw new Error("The load spec has no request bodies.");
let next = 0;
const result = await autocannon({
  url: spec.url,
  connections: spec.connections,
  duration: spec.seconds,
  method: "POST",
  headers: { ...spec.headers },
  body: spec.bodies[0],
  // One body per request, in turn, whichever connection sends it.
  requests: spec.bodies.length === 1 ? undefined : [{ setupRequest: (request) => ({ ...request, body: spec.bodies[next++ % spec.bodies.length] }) }],
});
process.stdout.write(JSON.stringify(result));
