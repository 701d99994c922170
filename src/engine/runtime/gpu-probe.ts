/**
 * Explains, from files alone, why Dawn found no hardware adapter on a machine that has a GPU: Dawn
 * reaches a GPU only through Vulkan, and Vulkan needs three things that install separately (the GPU's
 * device node from its kernel driver, the loader libvulkan.so.1, and the driver's ICD manifest where
 * the loader looks). Nothing here talks to a GPU; it is read before the automatic choice asks Dawn,
 * and after webgpu failed to start.
 */
import fs from "node:fs";
import path from "node:path";
import type { GpuEnvironment } from "../../config.ts";

/** A GPU the kernel shows, by its driver's device node. */
export interface ProbedGpu {
  readonly vendor: "NVIDIA" | "AMD" | "Intel";
  /** The device node that shows it, e.g. /dev/nvidia0 or /dev/dri/renderD128. */
  readonly node: string;
}

/** What the machine shows of a GPU and of the Vulkan pieces Dawn needs. */
export interface GpuProbe {
  readonly gpus: ReadonlyArray<ProbedGpu>;
  /** Where libvulkan.so.1 was found, or undefined. */
  readonly vulkanLoader: string | undefined;
  /** The Vulkan driver manifests the loader would read, with the library each names. */
  readonly drivers: ReadonlyArray<{ readonly manifest: string; readonly library: string }>;
  /** Inside an NVIDIA container whose capabilities leave out graphics (Vulkan needs it). */
  readonly containerWithoutGraphics: boolean;
}

/** PCI vendor ids of the GPUs that have a Vulkan driver of their own. */
const PCI_VENDORS: Readonly<Record<string, ProbedGpu["vendor"]>> = { "0x10de": "NVIDIA", "0x1002": "AMD", "0x8086": "Intel" };

/** Library folders the dynamic linker searches on Debian, Ubuntu, Fedora and their containers. */
const LIBRARY_DIRS = ["/lib/x86_64-linux-gnu", "/usr/lib/x86_64-linux-gnu", "/lib/aarch64-linux-gnu", "/usr/lib/aarch64-linux-gnu", "/lib64", "/usr/lib64", "/lib", "/usr/lib", "/usr/local/lib"];

function list(dir: string): string[] {
  try {
    return fs.readdirSync(dir);
  } catch {
    return [];
  }
}

function read(file: string): string | undefined {
  try {
    return fs.readFileSync(file, "utf8");
  } catch {
    return undefined;
  }
}

function paths(value: string | undefined): string[] {
  return (value ?? "").split(":").filter((p) => p !== "");
}

/** The GPUs behind NVIDIA's device nodes and the DRM render nodes (virtual display adapters are left out). */
function probeGpus(root: string): ProbedGpu[] {
  const gpus: ProbedGpu[] = [];
  for (const name of list(path.join(root, "dev")).sort()) {
    if (/^nvidia\d+$/.test(name)) gpus.push({ vendor: "NVIDIA", node: `/dev/${name}` });
  }
  for (const name of list(path.join(root, "dev", "dri")).sort()) {
    if (!/^renderD\d+$/.test(name)) continue;
    const vendor = PCI_VENDORS[(read(path.join(root, "sys", "class", "drm", name, "device", "vendor")) ?? "").trim().toLowerCase()];
    // NVIDIA's proprietary driver has its own nodes, already counted; nouveau's render node is not Vulkan-capable for Dawn either way.
    if (vendor && !(vendor === "NVIDIA" && gpus.some((g) => g.vendor === "NVIDIA"))) gpus.push({ vendor, node: `/dev/dri/${name}` });
  }
  return gpus;
}

/** The folders of ld.so.conf and of the files it includes (`include dir/*.conf` globs, two levels deep). */
function linkerConfDirs(root: string): string[] {
  const dirs: string[] = [];
  const readConf = (file: string, depth: number): void => {
    for (const raw of (read(path.join(root, file)) ?? "").split("\n")) {
      const line = raw.replace(/#.*/, "").trim();
      if (line === "") continue;
      const include = /^include\s+(\S+)$/.exec(line);
      if (include && depth < 2) {
        const pattern = include[1].startsWith("/") ? include[1] : path.join(path.dirname(file), include[1]);
        const dir = path.dirname(pattern);
        const suffix = path.basename(pattern).replace(/^\*/, "");
        for (const name of list(path.join(root, dir)).sort()) if (name.endsWith(suffix)) readConf(path.join(dir, name), depth + 1);
      } else if (line.startsWith("/")) dirs.push(line);
    }
  };
  readConf("/etc/ld.so.conf", 0);
  return dirs;
}

function findLoader(root: string, env: GpuEnvironment): string | undefined {
  const dirs = [...paths(env.LD_LIBRARY_PATH), ...linkerConfDirs(root), ...LIBRARY_DIRS];
  return dirs.map((dir) => path.posix.join(dir, "libvulkan.so.1")).find((file) => fs.existsSync(path.join(root, file)));
}

/** The manifests the Vulkan loader reads on Linux: the override variables, else its search folders. */
function findDrivers(root: string, env: GpuEnvironment): Array<{ manifest: string; library: string }> {
  const fromList = (value: string | undefined): string[] =>
    paths(value).flatMap((p) => (p.endsWith(".json") ? [p] : list(path.join(root, p)).filter((n) => n.endsWith(".json")).map((n) => path.posix.join(p, n))));
  const override = env.VK_DRIVER_FILES ?? env.VK_ICD_FILENAMES;
  let manifests: string[];
  if (override !== undefined) manifests = fromList(override);
  else {
    const home = env.HOME ?? "";
    const configDirs = [env.XDG_CONFIG_HOME ?? (home && `${home}/.config`), ...paths(env.XDG_CONFIG_DIRS ?? "/etc/xdg"), "/usr/local/etc", "/etc"];
    const dataDirs = [env.XDG_DATA_HOME ?? (home && `${home}/.local/share`), ...paths(env.XDG_DATA_DIRS ?? "/usr/local/share:/usr/share")];
    manifests = [...configDirs, ...dataDirs].filter((d) => d !== "").flatMap((d) => fromList(`${d}/vulkan/icd.d`));
  }
  manifests.push(...fromList(env.VK_ADD_DRIVER_FILES));
  return [...new Set(manifests)].flatMap((manifest) => {
    const text = read(path.join(root, manifest));
    if (text === undefined) return [];
    try {
      const library = (JSON.parse(text) as { ICD?: { library_path?: unknown } }).ICD?.library_path;
      return typeof library === "string" ? [{ manifest, library }] : [];
    } catch {
      return [];
    }
  });
}

/** Reads what the machine shows (root stands for `/`, so tests can lay out a machine in a folder). */
export function probeGpu(o: { env: GpuEnvironment; root?: string }): GpuProbe {
  const root = o.root ?? "/";
  const capabilities = o.env.NVIDIA_DRIVER_CAPABILITIES;
  const inNvidiaContainer = o.env.NVIDIA_VISIBLE_DEVICES !== undefined && !["", "void", "none"].includes(o.env.NVIDIA_VISIBLE_DEVICES);
  return {
    gpus: probeGpus(root),
    vulkanLoader: findLoader(root, o.env),
    drivers: findDrivers(root, o.env),
    // The NVIDIA Container Toolkit mounts the driver's Vulkan part only for the graphics capability (default: utility).
    containerWithoutGraphics: inNvidiaContainer && !/\b(graphics|all)\b/.test(capabilities ?? "utility"),
  };
}

/**
 * Whether the automatic choice should ask Dawn for an adapter: on Linux only where the kernel shows a
 * GPU (elsewhere, Dawn ends up printing what a user cannot act on); on other systems (Metal, D3D12)
 * this probe cannot tell, so always.
 */
export function gpuWorthAsking(o: { root?: string; platform?: NodeJS.Platform }): boolean {
  return (o.platform ?? process.platform) !== "linux" || probeGpus(o.root ?? "/").length > 0;
}

const DRIVER_LIBRARY: Readonly<Record<ProbedGpu["vendor"], RegExp>> = { NVIDIA: /nvidia/i, AMD: /radeon|amdvlk|amdgpu/i, Intel: /intel/i };

/**
 * Why Vulkan cannot reach the machine's GPU, as a clause a person can act on ("this machine has an
 * NVIDIA GPU (/dev/nvidia0), but …"); undefined when the machine shows no GPU, so nothing to explain.
 */
export function explainMissingGpu(probe: GpuProbe): string | undefined {
  const gpu = probe.gpus[0];
  if (gpu === undefined) return undefined;
  const has = `this machine has an ${gpu.vendor} GPU (${gpu.node})`;
  const missing: string[] = [];
  if (probe.vulkanLoader === undefined) missing.push("the Vulkan loader libvulkan.so.1 is not installed (apt-get install -y libvulkan1)");
  if (!probe.drivers.some((d) => DRIVER_LIBRARY[gpu.vendor].test(d.library))) {
    if (gpu.vendor === "NVIDIA" && probe.containerWithoutGraphics) {
      missing.push("this NVIDIA container was started without the graphics capability, which brings the driver's Vulkan part (set NVIDIA_DRIVER_CAPABILITIES=compute,utility,graphics, or all)");
    } else if (gpu.vendor === "NVIDIA") {
      missing.push("no Vulkan driver manifest names NVIDIA's library (nvidia_icd.json, which NVIDIA's driver installs in /usr/share/vulkan/icd.d or /etc/vulkan/icd.d; Debian packages it as nvidia-vulkan-icd)");
    } else {
      missing.push(`no Vulkan driver manifest names ${gpu.vendor}'s library (apt-get install -y mesa-vulkan-drivers)`);
    }
  }
  if (missing.length === 0) {
    return `${has}, the Vulkan loader and a Vulkan manifest for its driver, so the driver itself declined (vulkaninfo --summary, from Debian's vulkan-tools, shows why)`;
  }
  return `${has}, but ${missing.join("; and ")}`;
}
