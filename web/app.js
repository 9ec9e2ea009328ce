// The page: load an exported vitgan_tf generator (TFLite) with LiteRT.js and draw its images
// from seeds, as `python -m vitgan_tf.sample --seeds=...` does: seed S gives the latent of
// vitgan_tf.rng.latents_from_seeds (rng.js), so the same image as in Python, TF Serving and
// TFLite, up to float rounding.
//
// Query parameters (all optional): model= the .tflite URL (default model.tflite), meta= its
// description (default vitgan_tf.json, written by vitgan_tf.export beside the TFLite files),
// accelerator= auto (WebGPU where the browser has it, else WebAssembly), webgpu or wasm; and
// what the page draws, which it writes back after every drawing so that a link to the page
// draws the same images: seeds= and classes= (a grid), or from=, to=, steps= and class= (a walk).
// window.vitgan exposes the page's actions and its canvas pixels for scripts and tests.

import {
  isWebGPUSupported, loadAndCompile, loadLiteRt, setWebGpuDevice, Tensor,
} from "@litertjs/core";

import { latentsFromSeeds } from "./rng.js";

export const MAX_IMAGES = 256;
const MAX_SEED = (1n << 63n) - 1n;
const BORDER = 1;

const $ = (id) => document.getElementById(id);
const state = { model: null, meta: null, name: "", lastError: "", timing: null };

class PageError extends Error {}

function showError(message) {
  state.lastError = message;
  $("error").textContent = message;
}

function status(message) {
  $("status").textContent = message;
}

// "0-15" (inclusive), "3,5,9", or one seed: BigInts in [0, 2**63 - 1]; at most `limit`.
export function parseSeeds(text, limit = MAX_IMAGES, what = "Seeds") {
  const clean = String(text).trim();
  const expected = `${what}: expected a range such as 0-15, a list such as 3,5,9 or one ` +
    `seed, each a whole number from 0 to ${MAX_SEED}; got "${clean}".`;
  const number = (part) => {
    if (!/^\d{1,19}$/.test(part)) throw new PageError(expected);
    const value = BigInt(part);
    if (value > MAX_SEED) throw new PageError(expected);
    return value;
  };
  let seeds;
  const range = clean.match(/^(\d+)\s*-\s*(\d+)$/);
  if (range) {
    const [first, last] = [number(range[1]), number(range[2])];
    if (last < first) throw new PageError(`${what}: the range "${clean}" ends before it starts.`);
    const count = last - first + 1n;
    if (count > BigInt(limit)) {
      throw new PageError(`${what}: "${clean}" is ${count} images; at most ${limit} at a time.`);
    }
    seeds = Array.from({ length: Number(count) }, (_, i) => first + BigInt(i));
  } else {
    if (!clean) throw new PageError(expected);
    seeds = clean.split(",").map((part) => number(part.trim()));
    if (seeds.length > limit) {
      throw new PageError(`${what}: ${seeds.length} seeds; at most ${limit} at a time.`);
    }
  }
  return seeds;
}

async function fetchOk(url, what) {
  let response;
  try {
    response = await fetch(url);
  } catch (error) {
    throw new PageError(`Could not fetch ${what} ${url}: ${error.message}.`);
  }
  if (!response.ok) {
    throw new PageError(`Could not fetch ${what} ${url} (HTTP ${response.status}). ` +
      "Export the run with python -m vitgan_tf.export --workdir=RUN --output=DIR and serve " +
      "it with python -m vitgan_tf.web --model_dir=DIR.");
  }
  return response;
}

async function loadDescription(url) {
  const text = await (await fetchOk(url, "the model description")).text();
  let meta;
  try {
    meta = JSON.parse(text);
  } catch {
    throw new PageError(`${url} is not JSON: expected the vitgan_tf.json that ` +
      "vitgan_tf.export writes beside the TFLite files.");
  }
  const model = meta && meta.model;
  const ok = model && ["latent_dim", "image_size", "channels"].every(
    (key) => Number.isInteger(model[key]) && model[key] > 0);
  if (!ok) {
    throw new PageError(`${url} is not a vitgan_tf export description: it has no "model" ` +
      "with latent_dim, image_size and channels.");
  }
  if (meta.classes != null && !(Array.isArray(meta.classes) && meta.classes.length)) {
    throw new PageError(`${url}: "classes" must be a list of class names or null.`);
  }
  return meta;
}

function checkSignature(model, meta, url) {
  const inputs = model.getInputDetails();
  const outputs = model.getOutputDetails().map((d) => d.name);
  const names = inputs.map((d) => d.name).sort();
  const want = meta.classes ? ["class_id", "z"] : ["z"];
  const z = inputs.find((d) => d.name === "z");
  const describe = (list) => list.join(", ") || "none";
  if (names.join() !== want.join() || !["images", "valid"].every((o) => outputs.includes(o))) {
    throw new PageError(`${url} is not the vitgan_tf generator that ${state.metaUrl} ` +
      `describes: its inputs are (${describe(names)}) and outputs (${describe(outputs)}), ` +
      `where inputs (${describe(want)}) and outputs (images, raw, valid) were expected.`);
  }
  if (!(z.shape[0] > 0)) {
    throw new PageError(`${url} takes any number of rows per call, which LiteRT.js cannot ` +
      "run: export it with a fixed batch, python -m vitgan_tf.export ... --tflite_batch=1.");
  }
  const dim = z.shape[z.shape.length - 1];
  if (dim !== meta.model.latent_dim) {
    throw new PageError(`${url} takes latents of ${dim} values, but ${state.metaUrl} says ` +
      `${meta.model.latent_dim}: the two files are from different exports.`);
  }
}

// LiteRT's WebAssembly writes its INFO and WARNING lines (such as "NPU accelerator could not
// be loaded", harmless without one) to stderr, which the browser's console shows as errors:
// pass them on at their own level.
const consoleError = console.error.bind(console);
const consoleErrors = [];  // what went to the console as errors, for tests
console.error = (...args) => {
  const level = typeof args[0] === "string" && /^(INFO|WARNING)\b/.exec(args[0]);
  if (level) return (level[1] === "INFO" ? console.info : console.warn)(...args);
  consoleErrors.push(args.map(String).join(" "));
  return consoleError(...args);
};

const ACCELERATORS = ["auto", "webgpu", "wasm"];
const ACCELERATOR_NAMES = { webgpu: "WebGPU", wasm: "WebAssembly on the CPU" };

function supportsWebGpu() {
  try {
    return Boolean(navigator.gpu) && isWebGPUSupported();
  } catch {
    return false;
  }
}

// LiteRT.js's WebGPU device: the browser's GPU adapter, if it has one.
async function useWebGpu() {
  const adapter = await navigator.gpu.requestAdapter();
  if (!adapter) throw new Error("the browser found no GPU adapter");
  setWebGpuDevice(await adapter.requestDevice());
}

// The model compiled for `accelerator`, checked against its description, and run once untimed:
// the first run of a model prepares its kernels (13-14 ms an image against 3 afterwards on
// WebAssembly, measured), which is not the time per image a user will see.
async function compileAndWarm(bytes, accelerator, meta, modelUrl) {
  let model;
  try {
    model = await loadAndCompile(bytes, { accelerator });
  } catch (error) {
    throw new PageError(`LiteRT.js cannot run ${modelUrl}: ${error.message || error}`);
  }
  checkSignature(model, meta, modelUrl);
  Object.assign(state, { model, meta, name: modelUrl, accelerator,
    batch: model.getInputDetails().find((d) => d.name === "z").shape[0] });
  await generate(new Float32Array(state.batch * meta.model.latent_dim),
    meta.classes ? Array(state.batch).fill(0) : null, { timed: false });
  return model;
}

async function load() {
  const params = new URLSearchParams(window.location.search);
  const modelUrl = params.get("model") || "model.tflite";
  state.metaUrl = params.get("meta") || "vitgan_tf.json";
  const meta = await loadDescription(state.metaUrl);
  const asked = params.get("accelerator") || "auto";
  if (!ACCELERATORS.includes(asked)) {
    throw new PageError(`accelerator=${asked}: expected one of ${ACCELERATORS.join(", ")}.`);
  }
  const webgpu = asked !== "wasm" && supportsWebGpu();
  // LiteRT.js runs WebGPU models from its JSPI build (JavaScript promise integration), which
  // browsers with WebAssembly.Suspending have; the plain build for WebAssembly alone.
  await loadLiteRt(new URL("node_modules/@litertjs/core/wasm/", window.location.href).href,
    { jspi: webgpu && "Suspending" in WebAssembly });
  const bytes = new Uint8Array(await (await fetchOk(modelUrl, "the model")).arrayBuffer());
  // A TFLite flat buffer carries the identifier "TFL3" at bytes 4-7.
  if (bytes.length < 8 || String.fromCharCode(...bytes.slice(4, 8)) !== "TFL3") {
    throw new PageError(`${modelUrl} is not a TFLite model (no TFL3 identifier); expected ` +
      "tflite/vN_float32.tflite or vN_float16.tflite of a vitgan_tf export.");
  }
  state.acceleratorNote = asked === "webgpu" && !webgpu ?
    "WebGPU was asked for, but this browser does not offer it: WebAssembly instead." : "";
  let model = null;
  if (webgpu) {
    model = await useWebGpu().then(() => compileAndWarm(bytes, "webgpu", meta, modelUrl))
      .catch((error) => {
      state.acceleratorNote = `WebGPU could not run the model (${error.message || error}): ` +
        "WebAssembly instead.";
      return null;
    });
  }
  model = model || await compileAndWarm(bytes, "wasm", meta, modelUrl);
  let served = "";
  try {  // vitgan_tf.web says which file it serves; a plain file server does not.
    const info = await fetch("served.json");
    if (info.ok) served = ` (${(await info.json()).model})`;
  } catch { /* optional */ }
  const m = meta.model;
  $("model-info").textContent = `${modelUrl}${served}: ${m.image_size}x${m.image_size}x` +
    `${m.channels} images from ${m.latent_dim}-value latents, step ${meta.step ?? "?"} of a ` +
    `${meta.dataset ?? "?"} run; ` + (meta.classes ? `${meta.classes.length} classes.` :
      "unconditional.");
  if (meta.classes) {
    for (const select of [$("classes"), $("class-one")]) {
      meta.classes.forEach((name, i) => select.add(new Option(`${i}: ${name}`, String(i))));
    }
    $("class-controls").classList.remove("hidden");
    $("interp-class").classList.remove("hidden");
  }
  $("draw").disabled = $("interpolate").disabled = false;
}

// Images (uint8, n x H x W x C) and valid flags of latents z (Float32Array, n x latent_dim),
// in calls of the model's fixed batch (the last one padded).
async function generate(z, classIds, { timed = true } = {}) {
  const dim = state.meta.model.latent_dim;
  const n = z.length / dim;
  const batch = state.batch;
  const { image_size: size, channels } = state.meta.model;
  const pixels = size * size * channels;
  const images = new Uint8Array(n * pixels);
  const valid = new Uint8Array(n);
  const start = performance.now();
  for (let first = 0; first < n; first += batch) {
    const rows = Math.min(batch, n - first);
    const zChunk = new Float32Array(batch * dim);
    zChunk.set(z.subarray(first * dim, (first + rows) * dim));
    const inputs = { z: new Tensor(zChunk, [batch, dim]) };
    if (state.meta.classes) {
      const ids = new Int32Array(batch);
      ids.set(classIds.slice(first, first + rows));
      inputs.class_id = new Tensor(ids, [batch]);
    }
    let outputs;
    try {
      outputs = await state.model.run(inputs);
    } catch (error) {
      throw new PageError(`LiteRT.js failed to run the model: ${error.message || error}`);
    } finally {
      Object.values(inputs).forEach((t) => t.delete());
    }
    const chunk = await hostArray(outputs.images);
    const flags = await hostArray(outputs.valid);
    try {
      if (chunk.length !== batch * pixels) {
        throw new PageError(`The model returned ${chunk.length} values for ${batch} images ` +
          `of ${size}x${size}x${channels}: it does not match ${state.metaUrl}.`);
      }
      images.set(chunk.subarray(0, rows * pixels), first * pixels);
      valid.set(flags.subarray(0, rows), first);
    } finally {
      Object.values(outputs).forEach((t) => t.delete());
    }
  }
  const ms = performance.now() - start;
  if (timed) {
    state.timing = { images: n, ms, perImage: ms / n, accelerator: state.accelerator };
    $("timing").textContent = `${n} images in ${ms.toFixed(1)} ms: ${(ms / n).toFixed(2)} ms ` +
      `per image (LiteRT.js, ${ACCELERATOR_NAMES[state.accelerator]}; after one untimed ` +
      "warm-up call)." + (state.acceleratorNote ? ` ${state.acceleratorNote}` : "");
  }
  return { images, valid };
}

// A tensor's values in this page's memory (a WebGPU output is copied back first).
async function hostArray(tensor) {
  if (tensor.accelerator && tensor.accelerator !== "wasm") {
    const copy = await tensor.copyTo("wasm");
    try {
      return copy.toTypedArray().slice();
    } finally {
      copy.delete();
    }
  }
  return tensor.toTypedArray();
}

// The grid of vitgan_tf.images.image_grid: 1-pixel white borders, `columns` wide.
function drawImages(images, n, columns, invalid) {
  const { image_size: size, channels } = state.meta.model;
  const rows = Math.ceil(n / columns);
  const canvas = $("canvas");
  canvas.width = columns * (size + BORDER) + BORDER;
  canvas.height = rows * (size + BORDER) + BORDER;
  const scale = Math.max(1, Math.floor(448 / Math.max(canvas.width, canvas.height)));
  canvas.style.width = `${canvas.width * scale}px`;
  canvas.style.height = `${canvas.height * scale}px`;
  const context = canvas.getContext("2d");
  const pixels = context.createImageData(canvas.width, canvas.height);
  pixels.data.fill(255);
  for (let i = 0; i < n; i++) {
    const top = BORDER + Math.floor(i / columns) * (size + BORDER);
    const left = BORDER + (i % columns) * (size + BORDER);
    for (let y = 0; y < size; y++) {
      for (let x = 0; x < size; x++) {
        const from = ((i * size + y) * size + x) * channels;
        const to = ((top + y) * canvas.width + left + x) * 4;
        if (invalid.has(i)) {  // never a silent black tile: a red one, and a message
          pixels.data.set([200, 0, 32], to);
        } else if (channels === 1) {
          pixels.data.fill(images[from], to, to + 3);
        } else {
          pixels.data.set(images.subarray(from, from + 3), to);
        }
      }
    }
  }
  context.putImageData(pixels, 0, 0);
}

function reportInvalid(valid, label) {
  const bad = [];
  valid.forEach((v, i) => { if (!v) bad.push(i); });
  if (bad.length) {
    showError(`${bad.length} image(s) could not be drawn (the model marked them invalid: a ` +
      `latent that is not finite or a class id out of range): ${bad.map(label).join(", ")}.`);
  }
  return new Set(bad);
}

// `c` if it is a class id of the model; else a PageError naming `what` and the valid ids.
function checkClass(c, what) {
  if (!(Number.isInteger(c) && c >= 0 && c < state.meta.classes.length)) {
    throw new PageError(`${what}: ${c} is not a class id of this model (0 to ` +
      `${state.meta.classes.length - 1}).`);
  }
  return c;
}

function selectedClasses() {
  const chosen = Array.from($("classes").selectedOptions, (o) => Number(o.value));
  return chosen.length ? chosen : state.meta.classes.map((_, i) => i);
}

// A grid of the seeds; for a conditional model one row per class (all, or `classes`).
export async function drawGrid(seedText, classes) {
  return guarded(async () => {
    const conditional = Boolean(state.meta.classes);
    const rows = conditional ? (classes ?? selectedClasses()) : [null];
    if (conditional) rows.forEach((c) => checkClass(c, "Classes"));
    const seeds = parseSeeds(seedText, Math.floor(MAX_IMAGES / rows.length));
    const dim = state.meta.model.latent_dim;
    const one = latentsFromSeeds(seeds, dim);
    const z = new Float32Array(one.length * rows.length);
    rows.forEach((_, r) => z.set(one, r * one.length));
    const classIds = conditional ? rows.flatMap((c) => seeds.map(() => c)) : null;
    const { images, valid } = await generate(z, classIds);
    const n = seeds.length * rows.length;
    const columns = conditional ? seeds.length : Math.ceil(Math.sqrt(n));
    const invalid = reportInvalid(valid, (i) => `seed ${seeds[i % seeds.length]}`);
    drawImages(images, n, columns, invalid);
    status(`Seeds ${seedText}` + (conditional ? `, classes ${rows.join(", ")}` : "") + ".");
    share({ seeds: String(seedText).trim(), classes: conditional ? rows.join(",") : null },
      `seeds_${String(seedText).trim()}`);
  });
}

// Images of latents given as numbers (rows of latent_dim; NaN and Infinity allowed), in one
// row; for scripts: a row the model marks invalid is drawn red and named in the message.
export async function drawLatents(values, classIds) {
  return guarded(async () => {
    const dim = state.meta.model.latent_dim;
    if (!Array.isArray(values) || !values.length || values.length % dim ||
        values.length / dim > MAX_IMAGES) {
      throw new PageError(`Latents: expected 1 to ${MAX_IMAGES} rows of ${dim} numbers.`);
    }
    const n = values.length / dim;
    const ids = state.meta.classes ? (classIds ?? Array(n).fill(0)) : null;
    const { images, valid } = await generate(Float32Array.from(values, Number), ids);
    drawImages(images, n, n, reportInvalid(valid, (i) => `latent ${i}`));
    status(`${n} latents.`);
  });
}

// Spherical interpolation from seed a's latent to seed b's in `steps` images (both included).
export async function interpolate(a, b, steps, classId) {
  return guarded(async () => {
    const [seedA] = parseSeeds(a, 1, "From seed");
    const [seedB] = parseSeeds(b, 1, "To seed");
    steps = Number(steps);
    if (!Number.isInteger(steps) || steps < 2 || steps > 64) {
      throw new PageError(`Steps: expected a whole number from 2 to 64; got "${steps}".`);
    }
    const dim = state.meta.model.latent_dim;
    const ends = latentsFromSeeds([seedA, seedB], dim);
    const [za, zb] = [ends.subarray(0, dim), ends.subarray(dim)];
    let dot = 0, na = 0, nb = 0;
    for (let i = 0; i < dim; i++) { dot += za[i] * zb[i]; na += za[i] ** 2; nb += zb[i] ** 2; }
    const omega = Math.acos(Math.min(1, Math.max(-1, dot / Math.sqrt(na * nb))));
    const z = new Float32Array(steps * dim);
    for (let s = 0; s < steps; s++) {
      const t = s / (steps - 1);
      const [wa, wb] = omega < 1e-6 ? [1 - t, t] :
        [Math.sin((1 - t) * omega) / Math.sin(omega), Math.sin(t * omega) / Math.sin(omega)];
      for (let i = 0; i < dim; i++) z[s * dim + i] = wa * za[i] + wb * zb[i];
    }
    let classIds = null;
    if (state.meta.classes) {
      classIds = Array(steps).fill(checkClass(Number(classId ?? $("class-one").value), "Class"));
    }
    const { images, valid } = await generate(z, classIds);
    drawImages(images, steps, steps, reportInvalid(valid, (i) => `step ${i}`));
    status(`From seed ${seedA} to seed ${seedB} in ${steps} steps.`);
    share({ from: String(seedA), to: String(seedB), steps: String(steps),
      class: classIds ? String(classIds[0]) : null }, `walk_${seedA}_${seedB}`);
  });
}

// What is drawn, in the page's address (kept: model, meta, accelerator) and its link, and the
// name the PNG download takes.
const DRAWN_KEYS = ["seeds", "classes", "from", "to", "steps", "class"];

function share(drawn, name) {
  const params = new URLSearchParams(window.location.search);
  DRAWN_KEYS.forEach((key) => params.delete(key));
  Object.entries(drawn).forEach(([key, value]) => { if (value != null) params.set(key, value); });
  const url = `${window.location.pathname}?${params}`;
  window.history.replaceState(null, "", url);
  $("link").href = url;
  $("link").classList.remove("hidden");
  state.pngName = `vitgan_${name.replace(/[^\w-]+/g, "_")}.png`;
  $("download").disabled = false;
}

// The canvas as a PNG data URL (what the Download button saves), for scripts and tests.
function pngDataUrl() {
  return $("canvas").toDataURL("image/png");
}

function downloadPng() {
  const link = document.createElement("a");
  link.href = pngDataUrl();
  link.download = state.pngName || "vitgan.png";
  document.body.appendChild(link);
  link.click();
  link.remove();
  return link.download;
}

// The first drawing: what the address asks for (a walk with from= and to=, else a grid of
// seeds=, default the form's), the form's fields set to it.
function drawFromAddress() {
  const params = new URLSearchParams(window.location.search);
  if (params.has("from") || params.has("to")) {
    $("seed-a").value = params.get("from") ?? $("seed-a").value;
    $("seed-b").value = params.get("to") ?? $("seed-b").value;
    $("steps").value = params.get("steps") ?? $("steps").value;
    const c = params.get("class");
    return interpolate($("seed-a").value, $("seed-b").value, $("steps").value,
      c == null ? undefined : Number(c));
  }
  if (params.has("seeds")) $("seeds").value = params.get("seeds");
  const classes = params.get("classes");
  return drawGrid($("seeds").value,
    classes == null ? undefined : classes.split(",").map((c) => Number(c.trim())));
}

async function guarded(action) {
  if (!state.model) {
    showError(state.lastError || "The model is not loaded yet.");
    return false;
  }
  showError("");
  try {
    await action();
    return true;
  } catch (error) {
    showError(error instanceof PageError ? error.message : `Unexpected error: ${error}`);
    return false;
  }
}

// The canvas as RGBA bytes, for tests: {width, height, data: number[]}.
function pixels() {
  const canvas = $("canvas");
  const data = canvas.getContext("2d").getImageData(0, 0, canvas.width, canvas.height).data;
  return { width: canvas.width, height: canvas.height, data: Array.from(data) };
}

$("draw").addEventListener("click", () => drawGrid($("seeds").value));
$("download").addEventListener("click", downloadPng);
$("interpolate").addEventListener("click",
  () => interpolate($("seed-a").value, $("seed-b").value, $("steps").value));

const ready = load().then(
  () => { status("Ready."); return drawFromAddress(); },
  (error) => {
    showError(error instanceof PageError ? error.message : `Could not start: ${error}`);
    $("model-info").textContent = "No model loaded.";
    return false;
  });

window.vitgan = {
  ready, drawGrid, drawLatents, interpolate, pixels, parseSeeds, pngDataUrl, downloadPng,
  accelerator: () => ({ used: state.accelerator, note: state.acceleratorNote,
    webgpu: supportsWebGpu() }),
  error: () => $("error").textContent,
  consoleErrors: () => consoleErrors.slice(),
  timing: () => state.timing,
};
