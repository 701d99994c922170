/**
 * Run by wasm-threads.test.ts in a process of its own (the wasm build is chosen once per process):
 * starts the backend the environment asks for, trains a small model for a few epochs and prints one
 * JSON line with the device, the thread count, the losses and some scores. Then it simply returns:
 * the process must end by itself, with the threaded build's workers still in their pool.
 */
import { currentDevice, initBackend } from "../../../src/engine/runtime/index.ts";
import { trainModel } from "../../../src/engine/models/index.ts";
import { plantedData } from "../planted.ts";
import { resolveVcmConfig } from "../../../src/engine/config.ts";

async function main(): Promise<void> {
  const backend = await initBackend();
  const data = plantedData({ users: 160, items: 150, vocab: 200, groups: 4, seed: 5 });
  // A hidden layer wider than the batch (32 against 16) and 150 items make the transposed forward
  // pass of VAEx's output layer (ops.ts transposedForward) apply, as at the paper's shapes.
  const model = await trainModel({
    train: data.train,
    validation: data.validation,
    words: data.words,
    config: resolveVcmConfig({ latentDim: 6, hiddenX: 32, hiddenY: 32, batchSize: 16, annealSteps: 50, evalBatchSize: 60, epochs: 20, seed: 4, learningRate: 3e-3 }),
  });
  const scores = await model.scoreItems({ matrix: data.train, rows: [0, 1, 2] }, "vcm");
  const cd = await model.scoreItems({ matrix: data.words, rows: [0, 1, 2] }, "vcm-cd");
  process.stdout.write(
    `${JSON.stringify({
      backend,
      device: currentDevice(),
      modelDevice: model.device,
      losses: model.history.map((h) => [h.reconX, h.reconY]),
      scores: Array.from(scores.subarray(0, 150)),
      cd: Array.from(cd.subarray(0, 150)),
    })}\n`,
  );
  model.dispose();
}

await main();
