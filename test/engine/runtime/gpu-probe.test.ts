/**
 * Why a GPU goes unused: machines laid out as real files in a temporary folder (device nodes, the
 * Vulkan loader, driver manifests, the linker's configuration), probed as the engine probes `/`, and
 * the sentence it gives for each. Then the real bin on such a machine says it at start, and on this
 * machine (no GPU) says nothing.
 */
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { explainMissingGpu, gpuWorthAsking, probeGpu } from "../../../src/engine/runtime/gpu-probe.ts";
import { runVcm } from "../../cli/run-vcm.ts";

const base = fs.mkdtempSync(path.join(os.tmpdir(), "vcm-gpu-probe-"));
afterAll(() => fs.rmSync(base, { recursive: true, force: true }));

let machines = 0;
/** A folder standing for `/`, with the given files (contents as given). */
function machine(files: Record<string, string>): string {
  machines += 1;
  const root = path.join(base, `m${machines}`);
  fs.mkdirSync(root);
  for (const [file, content] of Object.entries(files)) {
    fs.mkdirSync(path.join(root, path.dirname(file)), { recursive: true });
    fs.writeFileSync(path.join(root, file), content);
  }
  return root;
}

const manifest = (library: string): string => JSON.stringify({ file_format_version: "1.0.1", ICD: { library_path: library, api_version: "1.3.277" } });
const NVIDIA_ICD = { "/usr/share/vulkan/icd.d/nvidia_icd.json": manifest("libGLX_nvidia.so.0") };
const LAVAPIPE_ICD = { "/usr/share/vulkan/icd.d/lvp_icd.x86_64.json": manifest("/usr/lib/x86_64-linux-gnu/libvulkan_lvp.so") };
const LOADER = { "/usr/lib/x86_64-linux-gnu/libvulkan.so.1": "" };
const NVIDIA_NODES = { "/dev/nvidia0": "", "/dev/nvidiactl": "", "/dev/nvidia-uvm": "" };

describe("probeGpu and explainMissingGpu", () => {
  it("find nothing to explain on a machine without a GPU, whatever Vulkan has", () => {
    const probe = probeGpu({ env: {}, root: machine({ ...LOADER, ...LAVAPIPE_ICD, "/dev/null": "" }) });
    expect(probe.gpus).toEqual([]);
    expect(probe.vulkanLoader).toBe("/usr/lib/x86_64-linux-gnu/libvulkan.so.1");
    expect(probe.drivers).toEqual([{ manifest: "/usr/share/vulkan/icd.d/lvp_icd.x86_64.json", library: "/usr/lib/x86_64-linux-gnu/libvulkan_lvp.so" }]);
    expect(explainMissingGpu(probe)).toBeUndefined();
  });

  it("name both missing pieces on an NVIDIA machine with neither the loader nor the driver's manifest", () => {
    const probe = probeGpu({ env: {}, root: machine({ ...NVIDIA_NODES, "/dev/nvidia1": "" }) });
    expect(probe.gpus).toEqual([
      { vendor: "NVIDIA", node: "/dev/nvidia0" },
      { vendor: "NVIDIA", node: "/dev/nvidia1" },
    ]);
    expect(probe.vulkanLoader).toBeUndefined();
    expect(explainMissingGpu(probe)).toBe(
      "this machine has an NVIDIA GPU (/dev/nvidia0), but the Vulkan loader libvulkan.so.1 is not installed (apt-get install -y libvulkan1); and no Vulkan driver manifest names NVIDIA's library (nvidia_icd.json, which NVIDIA's driver installs in /usr/share/vulkan/icd.d or /etc/vulkan/icd.d; Debian packages it as nvidia-vulkan-icd)",
    );
  });

  it("see that only lavapipe's manifest is there when the loader is", () => {
    const why = explainMissingGpu(probeGpu({ env: {}, root: machine({ ...NVIDIA_NODES, ...LOADER, ...LAVAPIPE_ICD }) }));
    expect(why).toMatch(/^this machine has an NVIDIA GPU \(\/dev\/nvidia0\), but no Vulkan driver manifest names NVIDIA's library/);
    expect(why).not.toMatch(/libvulkan\.so\.1 is not installed/);
  });

  it("tell an NVIDIA container started without the graphics capability how to start it", () => {
    const root = machine({ ...NVIDIA_NODES, ...LOADER });
    const without = explainMissingGpu(probeGpu({ env: { NVIDIA_VISIBLE_DEVICES: "all", NVIDIA_DRIVER_CAPABILITIES: "compute,utility" }, root }));
    expect(without).toBe(
      "this machine has an NVIDIA GPU (/dev/nvidia0), but this NVIDIA container was started without the graphics capability, which brings the driver's Vulkan part (set NVIDIA_DRIVER_CAPABILITIES=compute,utility,graphics, or all)",
    );
    // The toolkit's default capability is utility alone.
    expect(probeGpu({ env: { NVIDIA_VISIBLE_DEVICES: "0" }, root }).containerWithoutGraphics).toBe(true);
    expect(probeGpu({ env: { NVIDIA_VISIBLE_DEVICES: "all", NVIDIA_DRIVER_CAPABILITIES: "all" }, root }).containerWithoutGraphics).toBe(false);
    expect(probeGpu({ env: { NVIDIA_VISIBLE_DEVICES: "void", NVIDIA_DRIVER_CAPABILITIES: "utility" }, root }).containerWithoutGraphics).toBe(false);
  });

  it("find the loader through ld.so.conf's includes and the manifest where the container toolkit mounts it, then blame the driver", () => {
    const root = machine({
      ...NVIDIA_NODES,
      "/etc/ld.so.conf": "# local folders\ninclude /etc/ld.so.conf.d/*.conf\n",
      "/etc/ld.so.conf.d/vulkan.conf": "/opt/vulkan/lib\n",
      "/etc/ld.so.conf.d/ignored.txt": "/nowhere\n",
      "/opt/vulkan/lib/libvulkan.so.1": "",
      "/etc/vulkan/icd.d/nvidia_icd.json": manifest("libGLX_nvidia.so.0"),
    });
    const probe = probeGpu({ env: {}, root });
    expect(probe.vulkanLoader).toBe("/opt/vulkan/lib/libvulkan.so.1");
    expect(probe.drivers).toEqual([{ manifest: "/etc/vulkan/icd.d/nvidia_icd.json", library: "libGLX_nvidia.so.0" }]);
    expect(explainMissingGpu(probe)).toBe(
      "this machine has an NVIDIA GPU (/dev/nvidia0), the Vulkan loader and a Vulkan manifest for its driver, so the driver itself declined (vulkaninfo --summary, from Debian's vulkan-tools, shows why)",
    );
  });

  it("read only the manifests VK_DRIVER_FILES names, and those of VK_ADD_DRIVER_FILES and LD_LIBRARY_PATH's loader", () => {
    const root = machine({ ...NVIDIA_NODES, ...NVIDIA_ICD, "/opt/icd/lvp.json": manifest("libvulkan_lvp.so"), "/opt/extra/nv.json": manifest("libGLX_nvidia.so.0"), "/opt/lib/libvulkan.so.1": "" });
    const only = probeGpu({ env: { VK_DRIVER_FILES: "/opt/icd/lvp.json" }, root });
    expect(only.drivers.map((d) => d.manifest)).toEqual(["/opt/icd/lvp.json"]);
    expect(only.vulkanLoader).toBeUndefined();
    expect(explainMissingGpu(only)).toMatch(/no Vulkan driver manifest names NVIDIA's library/);
    // A folder in VK_ICD_FILENAMES (the older name) is read whole.
    expect(probeGpu({ env: { VK_ICD_FILENAMES: "/opt/icd" }, root }).drivers.map((d) => d.manifest)).toEqual(["/opt/icd/lvp.json"]);
    const added = probeGpu({ env: { VK_DRIVER_FILES: "/opt/icd/lvp.json", VK_ADD_DRIVER_FILES: "/opt/extra", LD_LIBRARY_PATH: "/opt/lib" }, root });
    expect(added.drivers.map((d) => d.library)).toEqual(["libvulkan_lvp.so", "libGLX_nvidia.so.0"]);
    expect(added.vulkanLoader).toBe("/opt/lib/libvulkan.so.1");
    expect(explainMissingGpu(added)).toMatch(/so the driver itself declined/);
  });

  it("follow XDG_DATA_DIRS and skip manifests that are not JSON or name no library", () => {
    const root = machine({
      ...NVIDIA_NODES,
      ...LOADER,
      "/usr/share/vulkan/icd.d/broken.json": "{ not json",
      "/usr/share/vulkan/icd.d/empty.json": "{}",
      "/srv/share/vulkan/icd.d/nvidia_icd.json": manifest("libGLX_nvidia.so.0"),
    });
    expect(probeGpu({ env: {}, root }).drivers).toEqual([]);
    expect(probeGpu({ env: { XDG_DATA_DIRS: "/srv/share" }, root }).drivers).toEqual([{ manifest: "/srv/share/vulkan/icd.d/nvidia_icd.json", library: "libGLX_nvidia.so.0" }]);
  });

  it("tell an AMD or Intel render node from a virtual display adapter's", () => {
    const amd = probeGpu({ env: {}, root: machine({ "/dev/dri/renderD128": "", "/dev/dri/card0": "", "/sys/class/drm/renderD128/device/vendor": "0x1002\n", ...LOADER }) });
    expect(amd.gpus).toEqual([{ vendor: "AMD", node: "/dev/dri/renderD128" }]);
    expect(explainMissingGpu(amd)).toBe("this machine has an AMD GPU (/dev/dri/renderD128), but no Vulkan driver manifest names AMD's library (apt-get install -y mesa-vulkan-drivers)");
    const withRadv = probeGpu({ env: {}, root: machine({ "/dev/dri/renderD128": "", "/sys/class/drm/renderD128/device/vendor": "0x1002\n", ...LOADER, "/usr/share/vulkan/icd.d/radeon_icd.x86_64.json": manifest("/usr/lib/x86_64-linux-gnu/libvulkan_radeon.so") }) });
    expect(explainMissingGpu(withRadv)).toMatch(/so the driver itself declined/);
    const intel = probeGpu({ env: {}, root: machine({ "/dev/dri/renderD129": "", "/sys/class/drm/renderD129/device/vendor": "0x8086\n" }) });
    expect(explainMissingGpu(intel)).toMatch(/^this machine has an Intel GPU \(\/dev\/dri\/renderD129\), but the Vulkan loader libvulkan\.so\.1 is not installed/);
    const virtio = probeGpu({ env: {}, root: machine({ "/dev/dri/renderD128": "", "/sys/class/drm/renderD128/device/vendor": "0x1af4\n" }) });
    expect(virtio.gpus).toEqual([]);
    expect(explainMissingGpu(virtio)).toBeUndefined();
  });
});

describe("gpuWorthAsking", () => {
  it("asks Dawn on Linux only where a GPU's device node shows, and elsewhere always", () => {
    const cpuOnly = machine({ ...LOADER, ...LAVAPIPE_ICD, "/dev/null": "" });
    expect(gpuWorthAsking({ root: cpuOnly, platform: "linux" })).toBe(false);
    expect(gpuWorthAsking({ root: machine({ ...NVIDIA_NODES }), platform: "linux" })).toBe(true);
    expect(gpuWorthAsking({ root: machine({ "/dev/dri/renderD128": "", "/sys/class/drm/renderD128/device/vendor": "0x8086\n" }), platform: "linux" })).toBe(true);
    expect(gpuWorthAsking({ root: machine({ "/dev/dri/renderD128": "", "/sys/class/drm/renderD128/device/vendor": "0x1af4\n" }), platform: "linux" })).toBe(false);
    expect(gpuWorthAsking({ root: cpuOnly, platform: "darwin" })).toBe(true);
  });
});

describe("the real bin on a machine with an unreachable GPU", () => {
  const dir = fs.mkdtempSync(path.join(base, "cli-"));
  const env = { ...process.env, VCM_DB: path.join(dir, "cli.sqlite"), VCM_MODELS_DIR: path.join(dir, "models"), VCM_BACKEND: "" };
  const train = ["train", "--dataset", "tiny", "--variant", "vcm", "--epochs", "1", "--latent-dim", "4", "--hidden-x", "8", "--hidden-y", "8", "--batch-size", "50", "--seed", "2", "--json"];

  it("says at start why webgpu went unused, once, and trains on the CPU backend; says nothing of it where there is no GPU", () => {
    expect(runVcm(["generate", "--dataset", "tiny", "--users", "100", "--items", "60", "--vocab", "120", "--json"], { ...env, VCM_BACKEND: "wasm" }).code).toBe(0);
    const gpuMachine = machine({ ...NVIDIA_NODES });
    const run = runVcm(train, { ...env, VCM_GPU_PROBE_ROOT: gpuMachine });
    expect(run.code, run.stderr).toBe(0);
    const lines = run.stderr.split("\n").filter((l) => l.startsWith("vcm: webgpu not used, "));
    // Dawn itself finds lavapipe here (or nothing, where Mesa is missing); the probe then explains the laid-out GPU.
    expect(lines, run.stderr).toHaveLength(1);
    expect(lines[0]).toMatch(/^vcm: webgpu not used, Dawn found (only a software adapter|no GPU adapter): this machine has an NVIDIA GPU \(\/dev\/nvidia0\), but the Vulkan loader libvulkan\.so\.1 is not installed .*; the engine runs on the CPU meanwhile$/);
    expect(run.last.backend).not.toBe("webgpu");
    // Dawn was asked (there is a GPU to find), but its own warnings stay out of the terminal.
    expect(run.stderr).not.toMatch(/^Warning: |artificially reduced|Couldn't load Vulkan/m);

    // Forced, with Dawn kept from every adapter (no D3D12 on Linux), the refusal names the missing pieces instead of the generic advice.
    const forced = runVcm(train, { ...env, VCM_GPU_PROBE_ROOT: gpuMachine, VCM_BACKEND: "webgpu", VCM_WEBGPU_FLAGS: "backend=d3d12" });
    expect(forced.code).not.toBe(0);
    expect(forced.last.error).toMatchObject({ code: "BAD_USER_INPUT" });
    expect(forced.last.error.message).toMatch(
      /^VCM_BACKEND=webgpu, but Dawn found no GPU adapter: this machine has an NVIDIA GPU \(\/dev\/nvidia0\), but the Vulkan loader libvulkan\.so\.1 is not installed \(apt-get install -y libvulkan1\); and no Vulkan driver manifest names NVIDIA's library .*; choose wasm or cpu$/,
    );

    const here = runVcm(train, { ...env });
    expect(here.code, here.stderr).toBe(0);
    expect(here.stderr).not.toMatch(/webgpu not used/);
  });
});
