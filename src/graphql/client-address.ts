/**
 * The address a request comes from, for rate limits and the WebSocket cap per address: the socket's
 * peer, or, when that peer is a trusted proxy (VCM_TRUST_PROXY), the nearest address in
 * X-Forwarded-For that is not one, as proxy-addr (Express's rule) reads it.
 */
import type http from "node:http";
import proxyaddr from "proxy-addr";

/** The client address of a request (undefined when its socket is already gone). */
export type ClientAddressOf = (request: http.IncomingMessage) => string | undefined;

/** Reads client addresses, believing X-Forwarded-For only from the given proxies (none: the socket's peer). */
export function clientAddressReader(trustedProxies: ReadonlyArray<string>): ClientAddressOf {
  if (trustedProxies.length === 0) return (request) => request.socket.remoteAddress;
  const trust = proxyaddr.compile([...trustedProxies]);
  return (request) => (request.socket.remoteAddress === undefined ? undefined : proxyaddr(request, trust));
}
