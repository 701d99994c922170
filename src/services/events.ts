/**
 * In-process publish/subscribe, the PubSub that type-graphql's schema builder asks for. Training-job
 * updates do not go through it: job-updates.ts coalesces them per job.
 */
import { EventEmitter, on } from "node:events";

/** Publish/subscribe by topic (the shape type-graphql's PubSub expects). */
export interface EventBus {
  publish(routingKey: string, ...args: unknown[]): void;
  /** Payloads published on the topic from now on; ending the iteration drops the listener. */
  subscribe(routingKey: string, dynamicId?: unknown): AsyncIterable<unknown>;
}

/** Creates an EventBus over one EventEmitter. */
export function createEventBus(): EventBus {
  const emitter = new EventEmitter();
  // Every open subscription is a listener; the default cap of 10 would warn at the 11th client.
  emitter.setMaxListeners(0);
  return {
    publish(routingKey, ...args) {
      emitter.emit(routingKey, args[0]);
    },
    subscribe(routingKey) {
      // Listening starts now, not at the first read, so nothing published in between is lost.
      const events = on(emitter, routingKey);
      return (async function* payloads() {
        for await (const [payload] of events) yield payload as unknown;
      })();
    },
  };
}
