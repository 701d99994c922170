/** A worker for job-queue.test.ts: reports the argument it was given, then ends, or waits for its cancel and exits with code 3. */
const argument = JSON.parse(process.argv[2] ?? "{}") as { id: number; wait: boolean };
process.send?.({ type: "started", argument }, undefined, {}, () => {
  if (!argument.wait) process.disconnect();
});
if (argument.wait) {
  process.on("message", (message: { type: string }) => {
    if (message.type === "cancel") process.exit(3);
  });
}
