/**
 * Long request work (a forward pass, the top-k of 100 users, the items of their rankings) gives the
 * event loop a turn between its steps, so that sockets are read and cheap queries answered meanwhile.
 */

/** Resolves on the next turn of the event loop, after pending I/O callbacks have run. */
export function nextTurn(): Promise<void> {
  return new Promise((resolve) => setImmediate(resolve));
}
