/**
 * Packs what the training benchmark needs on a machine that has a GPU but no Node.js and no network
 * (the device machine some tasks are lent, /work/.library/device/README.md), into `.gpu-kit/`: this
 * machine's node (xz), scripts/bench-train.ts bundled with the engine and tfjs into one .mjs, the
 * `webgpu` package's loader and Linux x64 dawn.node (xz), the PyTorch yardstick and Debian's Vulkan
 * loader. scripts/gpu-kit/run.sh unpacks and runs it there: the webgpu row against PyTorch on CUDA.
 *
 *   npm run gpu-kit [-- --out DIR]   # default .gpu-kit; then carry it and run: bash scripts/gpu-kit/run.sh [DIR]
 */
import { spawnSync } from "node:child_process";
import fs from "node:fs";
import path from "node:path";
import { parseArgs } from "node:util";
import * as esbuild from "esbuild";

const root = path.resolve(import.meta.dirname, "..", "..");
const kit = path.resolve(parseArgs({ options: { out: { type: "string" } } }).values.out ?? path.join(root, ".gpu-kit"));
const modules = path.join(root, "node_modules");

/** Runs a command, throwing with its output when it fails. */
function run(command: string, args: ReadonlyArray<string>, options: { cwd?: string; stdout?: number } = {}): void {
  const result = spawnSync(command, args, { cwd: options.cwd, stdio: ["ignore", options.stdout ?? "inherit", "inherit"] });
  if (result.status !== 0) throw new Error(`${command} ${args.join(" ")} failed (exit code ${result.status})`);
}

/** `xz -T0 -c from > to`. */
function xz(from: string, to: string): void {
  const fd = fs.openSync(to, "w");
  try {
    run("xz", ["-T0", "-6", "-c", from], { stdout: fd });
  } finally {
    fs.closeSync(fd);
  }
}

/**
 * The engine imports its optional packages through variable specifiers, so that tsc and a missing
 * package do not stop it; in the bundle, tfjs's webgpu backend must be the bundle's own (a second
 * copy would register into a second tfjs), so the kit's build makes that import literal.
 */
const literalWebGpuBackend: esbuild.Plugin = {
  name: "literal-webgpu-backend",
  setup(build) {
    build.onLoad({ filter: /src[\\/]engine[\\/]runtime[\\/]webgpu\.ts$/ }, (args) => {
      const source = fs.readFileSync(args.path, "utf8");
      const pattern = /const specifier: string = "@tensorflow\/tfjs-backend-webgpu";\s*await import\(specifier\);/;
      if (!pattern.test(source)) throw new Error("src/engine/runtime/webgpu.ts no longer imports @tensorflow/tfjs-backend-webgpu as the kit expects; update scripts/gpu-kit/pack.ts");
      return { contents: source.replace(pattern, 'await import("@tensorflow/tfjs-backend-webgpu");'), loader: "ts" };
    });
  },
};

async function main(): Promise<void> {
  fs.rmSync(kit, { recursive: true, force: true });
  fs.mkdirSync(kit, { recursive: true });

  await esbuild.build({
    entryPoints: [path.join(root, "scripts", "bench-train.ts")],
    outfile: path.join(kit, "bench.mjs"),
    bundle: true,
    platform: "node",
    format: "esm",
    target: "node20",
    minify: true,
    // dawn.node is loaded by the webgpu package's own index.js, which the kit carries beside the bundle.
    external: ["webgpu"],
    plugins: [literalWebGpuBackend],
    logLevel: "warning",
    // tfjs is CommonJS: its require() calls (and the wasm backend's __dirname) need real ones inside an ES module.
    banner: {
      js: [
        'import { createRequire as __vcmRequire } from "node:module";',
        'import { fileURLToPath as __vcmFile } from "node:url";',
        'import { dirname as __vcmDirname } from "node:path";',
        "const require = __vcmRequire(import.meta.url);",
        "const __filename = __vcmFile(import.meta.url);",
        "const __dirname = __vcmDirname(__filename);",
      ].join(" "),
    },
  });

  const webgpu = path.join(kit, "node_modules", "webgpu");
  fs.mkdirSync(path.join(webgpu, "dist", "linux-x64"), { recursive: true });
  for (const file of ["package.json", "index.js", "LICENSE.md"]) fs.copyFileSync(path.join(modules, "webgpu", file), path.join(webgpu, file));
  xz(path.join(modules, "webgpu", "dist", "linux-x64", "dawn.node"), path.join(webgpu, "dist", "linux-x64", "dawn.node.xz"));

  // The wasm backend resolves its .wasm files through its package (backend.ts); the kit carries them so
  // the stock row can run there too.
  const wasm = path.join(kit, "node_modules", "@tensorflow", "tfjs-backend-wasm");
  fs.mkdirSync(path.join(wasm, "dist"), { recursive: true });
  fs.copyFileSync(path.join(modules, "@tensorflow", "tfjs-backend-wasm", "package.json"), path.join(wasm, "package.json"));
  for (const file of fs.readdirSync(path.join(modules, "@tensorflow", "tfjs-backend-wasm", "dist")).filter((f) => f.endsWith(".wasm"))) {
    fs.copyFileSync(path.join(modules, "@tensorflow", "tfjs-backend-wasm", "dist", file), path.join(wasm, "dist", file));
  }

  xz(process.execPath, path.join(kit, "node.xz"));
  const torch = path.resolve(root, "..", "shared", "bench", "vcm_torch.py");
  if (fs.existsSync(torch)) fs.copyFileSync(torch, path.join(kit, "vcm_torch.py"));
  else console.warn(`gpu-kit: ${torch} is not there; the kit runs without the PyTorch yardstick`);

  // The Vulkan loader (Dawn needs libvulkan.so.1; the GPU driver brings the rest), as Debian packages.
  fs.mkdirSync(path.join(kit, "debs"));
  const download = spawnSync("apt-get", ["download", "libvulkan1"], { cwd: path.join(kit, "debs"), stdio: ["ignore", "ignore", "pipe"], encoding: "utf8" });
  if (download.status !== 0) console.warn(`gpu-kit: apt-get download libvulkan1 failed (${download.stderr.trim().split("\n").pop()}); run apt-get update first, or carry a Vulkan loader another way`);

  let bytes = 0;
  const walk = (dir: string): void => {
    for (const entry of fs.readdirSync(dir, { withFileTypes: true })) {
      const full = path.join(dir, entry.name);
      if (entry.isDirectory()) walk(full);
      else bytes += fs.statSync(full).size;
    }
  };
  walk(kit);
  console.log(`gpu-kit: wrote ${path.relative(process.cwd(), kit) || "."} (${(bytes / 2 ** 20).toFixed(1)} MiB); on the GPU machine: bash scripts/gpu-kit/run.sh ${path.relative(root, kit)}`);
}

await main();
