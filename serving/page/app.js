// tfinpaint's page: brush a hole on a photo and fill it with the models TF Serving has loaded.
// Plain JavaScript, no dependencies. It uses TF Serving's REST API only, relative to the page:
//   GET  models.json                                  {"models": ["conv", ...]} (a static file)
//   GET  v1/models/NAME                               versions and their state
//   GET  v1/models/NAME/versions/N/metadata           signature names
//   POST v1/models/NAME/versions/N:predict            inpaint_mask_bytes: image_bytes, mask_bytes
// Photos of any size: only a crop round what was painted is sent (the painted pixels' bounding box
// grown by half its longer side, at least 32 px, on every side: `tfinpaint.regions`' context),
// downscaled so its longer side is at most WORKING px, as the PNG of the canvas the user painted
// on (what they see, rotation applied) with the mask as an RGBA PNG whose transparent pixels are
// the hole: the server's one threshold is alpha < 128 = hole, and a pixel counts here as painted
// when its alpha >= 128 (a working pixel is hole if any photo pixel it covers is). The fill that
// comes back is scaled to the crop's size and only painted pixels are pasted into the full-size
// photo, so every other pixel is the photo's own and the server's work per request is bounded
// whatever the photo's size (stock TF Serving included).
"use strict";

(() => {
  const $ = (id) => document.getElementById(id);
  const photoCanvas = $("photo");
  const holeCanvas = $("hole");
  const photoCtx = photoCanvas.getContext("2d");
  const holeCtx = holeCanvas.getContext("2d", { willReadFrequently: true });
  const HOLE_COLOUR = "#ff2d55";
  const MAX_UNDO = 40;
  const MAX_HOLE_FRACTION = 0.9; // the server refuses masks with more hole than this (inverted?)
  const WORKING = 768; // longer side of the crop sent to the server, in pixels
  const CONTEXT = 0.5; // context round the painted box, as a share of its longer side...
  const MIN_CONTEXT = 32; // ...and at least this many pixels

  const state = {
    photo: null, // {name, width, height, url (of the photo as a PNG)}
    models: [], // {name, available, version, signature, why}
    checked: null, // names the user ticked (null: tick every available model)
    undo: [],
    drawing: null,
    holePixels: 0,
    scale: 1,
    busy: false,
    run: 0,
  };

  // --- models ------------------------------------------------------------------------------

  function parseJSON(text) {
    try {
      return JSON.parse(text);
    } catch (e) {
      return null;
    }
  }

  async function getJSON(url) {
    const response = await fetch(url, { cache: "no-store" });
    const text = await response.text();
    const body = parseJSON(text);
    if (!response.ok || body === null) {
      const why = body && body.error ? body.error : `${response.status} ${response.statusText}`;
      throw new Error(`${url}: ${why}`);
    }
    return body;
  }

  async function modelNames() {
    const given = new URLSearchParams(location.search).get("models");
    if (given) return given.split(",").map((s) => s.trim()).filter(Boolean);
    const doc = await getJSON("models.json");
    return (doc.models || []).map((m) => (typeof m === "string" ? m : m.name));
  }

  async function describe(name) {
    const path = `v1/models/${encodeURIComponent(name)}`;
    try {
      const status = await getJSON(path);
      const ready = (status.model_version_status || [])
        .filter((s) => s.state === "AVAILABLE")
        .map((s) => Number(s.version));
      if (!ready.length) return { name, available: false, why: "no version is available" };
      const version = Math.max(...ready);
      const meta = await getJSON(`${path}/versions/${version}/metadata`);
      const signatures = Object.keys(meta.metadata.signature_def.signature_def || {});
      // inpaint_mask_bytes takes exactly the image and the mask; exports older than it have
      // only inpaint_bytes, which also wants a (then unused) hole.
      const signature = ["inpaint_mask_bytes", "inpaint_bytes"].find((s) => signatures.includes(s));
      if (!signature) {
        return { name, version, available: false, why: "no PNG signature: export it again" };
      }
      return { name, version, signature, available: true };
    } catch (e) {
      return { name, available: false, why: e.message.replace(`${path}: `, "") };
    }
  }

  async function loadModels() {
    const box = $("models");
    const status = $("server-status");
    status.classList.remove("error");
    status.textContent = "Loading the model list…";
    let names;
    try {
      names = await modelNames();
    } catch (e) {
      status.classList.add("error");
      status.textContent = `Cannot list the models (${e.message}). Add ?models=NAME,NAME to the address, or serve a models.json.`;
      box.textContent = "";
      state.models = [];
      updateFill();
      return;
    }
    state.models = await Promise.all(names.map(describe));
    const ready = state.models.filter((m) => m.available);
    status.textContent = `${ready.length} of ${names.length} models available on ${location.host || "this server"}.`;
    box.textContent = "";
    for (const m of state.models) {
      const label = document.createElement("label");
      const input = document.createElement("input");
      input.type = "checkbox";
      input.value = m.name;
      input.disabled = !m.available;
      input.checked = m.available && (state.checked === null || state.checked.has(m.name));
      input.addEventListener("change", () => {
        state.checked = new Set(checkedModels().map((c) => c.name));
        updateFill();
      });
      const name = document.createElement("span");
      name.textContent = m.name;
      const version = document.createElement("span");
      version.className = "version";
      version.textContent = m.available ? `version ${m.version}` : "unavailable";
      label.append(input, name, version);
      if (!m.available) {
        label.className = "unavailable";
        label.title = m.why;
        const why = document.createElement("span");
        why.className = "why";
        why.textContent = m.why;
        name.append(why);
      }
      box.append(label);
    }
    if (!names.length) box.innerHTML = '<p class="hint">The server lists no models.</p>';
    updateFill();
  }

  function checkedModels() {
    const names = [...document.querySelectorAll("#models input:checked")].map((i) => i.value);
    return state.models.filter((m) => m.available && names.includes(m.name));
  }

  // --- photo -------------------------------------------------------------------------------

  function canvasBlob(canvas) {
    return new Promise((resolve, reject) =>
      canvas.toBlob((b) => (b ? resolve(b) : reject(new Error("the canvas could not be encoded"))), "image/png"));
  }

  async function decode(file) {
    try {
      return await createImageBitmap(file, {
        imageOrientation: "from-image", colorSpaceConversion: "none", premultiplyAlpha: "none",
      });
    } catch (e) {
      return createImageBitmap(file); // older browsers: no options
    }
  }

  async function loadFile(file) {
    if (!file) return;
    const info = $("photo-info");
    let bitmap;
    try {
      bitmap = await decode(file);
    } catch (e) {
      info.textContent = `${file.name} is not an image this browser can read.`;
      info.classList.add("error");
      return;
    }
    info.classList.remove("error");
    const { width, height } = bitmap;
    for (const c of [photoCanvas, holeCanvas]) {
      c.width = width;
      c.height = height;
    }
    photoCtx.clearRect(0, 0, width, height);
    photoCtx.drawImage(bitmap, 0, 0);
    if (bitmap.close) bitmap.close();
    const png = await canvasBlob(photoCanvas);
    if (state.photo) URL.revokeObjectURL(state.photo.url);
    state.photo = {
      name: file.name.replace(/\.[^.]*$/, "") || "photo", width, height,
      url: URL.createObjectURL(png),
    };
    state.undo = [];
    $("stage").classList.remove("empty");
    $("tools").disabled = false;
    info.textContent = `${file.name}: ${width} x ${height} pixels`;
    layout();
    holeChanged();
  }

  function layout() {
    if (!state.photo) return;
    const { width, height } = state.photo;
    const maxW = Math.max(240, $("editor").clientWidth);
    const maxH = Math.max(240, window.innerHeight - 140);
    let scale = Math.min(maxW / width, maxH / height, Math.max(1, 384 / Math.max(width, height)));
    if (scale > 1) scale = Math.max(1, Math.floor(scale)); // whole pixels stay crisp
    state.scale = scale;
    for (const c of [photoCanvas, holeCanvas]) {
      c.style.width = `${width * scale}px`;
      c.style.height = `${height * scale}px`;
    }
  }

  // --- painting the hole ---------------------------------------------------------------------

  const tool = () => document.querySelector('input[name="tool"]:checked').value;

  function point(event) {
    const r = holeCanvas.getBoundingClientRect();
    return {
      x: ((event.clientX - r.left) * holeCanvas.width) / r.width,
      y: ((event.clientY - r.top) * holeCanvas.height) / r.height,
    };
  }

  function radius() { // the slider is in screen pixels; the canvas in image pixels
    const r = holeCanvas.getBoundingClientRect();
    return ((Number($("brush").value) / 2) * holeCanvas.width) / r.width;
  }

  function pen(erase) {
    holeCtx.globalCompositeOperation = erase ? "destination-out" : "source-over";
    holeCtx.strokeStyle = holeCtx.fillStyle = HOLE_COLOUR;
    holeCtx.lineWidth = 2 * radius();
    holeCtx.lineCap = holeCtx.lineJoin = "round";
  }

  function pushUndo() {
    state.undo.push(holeCtx.getImageData(0, 0, holeCanvas.width, holeCanvas.height));
    if (state.undo.length > MAX_UNDO) state.undo.shift();
  }

  function rectangle(a, b) {
    const x0 = Math.max(0, Math.floor(Math.min(a.x, b.x)));
    const y0 = Math.max(0, Math.floor(Math.min(a.y, b.y)));
    const x1 = Math.min(holeCanvas.width, Math.ceil(Math.max(a.x, b.x)));
    const y1 = Math.min(holeCanvas.height, Math.ceil(Math.max(a.y, b.y)));
    holeCtx.putImageData(state.undo[state.undo.length - 1], 0, 0);
    holeCtx.globalCompositeOperation = "source-over";
    holeCtx.fillStyle = HOLE_COLOUR;
    if (x1 > x0 && y1 > y0) holeCtx.fillRect(x0, y0, x1 - x0, y1 - y0);
  }

  holeCanvas.addEventListener("pointerdown", (event) => {
    if (!state.photo || event.button !== 0) return;
    event.preventDefault();
    holeCanvas.setPointerCapture(event.pointerId);
    pushUndo();
    const p = point(event);
    state.drawing = { start: p, last: p, tool: tool() };
    if (state.drawing.tool !== "rect") {
      pen(state.drawing.tool === "eraser");
      holeCtx.beginPath();
      holeCtx.arc(p.x, p.y, radius(), 0, 2 * Math.PI);
      holeCtx.fill();
    }
  });

  holeCanvas.addEventListener("pointermove", (event) => {
    moveCursor(event);
    const d = state.drawing;
    if (!d) return;
    const p = point(event);
    if (d.tool === "rect") {
      rectangle(d.start, p);
    } else {
      pen(d.tool === "eraser");
      holeCtx.beginPath();
      holeCtx.moveTo(d.last.x, d.last.y);
      holeCtx.lineTo(p.x, p.y);
      holeCtx.stroke();
    }
    d.last = p;
  });

  function endStroke() {
    if (!state.drawing) return;
    state.drawing = null;
    holeCtx.globalCompositeOperation = "source-over";
    holeChanged();
  }
  holeCanvas.addEventListener("pointerup", endStroke);
  holeCanvas.addEventListener("pointercancel", endStroke);
  holeCanvas.addEventListener("pointerleave", () => { $("cursor").hidden = true; });

  function moveCursor(event) {
    const cursor = $("cursor");
    const r = holeCanvas.getBoundingClientRect();
    const stage = $("stage").getBoundingClientRect();
    const size = tool() === "rect" ? 14 : Number($("brush").value);
    cursor.hidden = false;
    cursor.className = tool() === "rect" ? "rect" : "";
    cursor.style.width = cursor.style.height = `${size}px`;
    cursor.style.left = `${event.clientX - stage.left}px`;
    cursor.style.top = `${event.clientY - stage.top}px`;
    holeCanvas.style.cursor = tool() === "rect" ? "crosshair" : "none";
    if (r.width === 0) cursor.hidden = true;
  }

  function holeChanged() {
    const { width, height } = holeCanvas;
    const alpha = holeCtx.getImageData(0, 0, width, height).data;
    let n = 0;
    for (let i = 3; i < alpha.length; i += 4) if (alpha[i] >= 128) n += 1;
    state.holePixels = n;
    const share = n / (width * height);
    const info = $("hole-info");
    info.classList.toggle("error", share > MAX_HOLE_FRACTION);
    if (!n) info.textContent = "Paint the part to fill.";
    else if (share > MAX_HOLE_FRACTION) {
      info.textContent = `${(100 * share).toFixed(1)}% of the photo is hole: the server refuses more than 90%. Paint only the part to fill.`;
    } else info.textContent = `Hole: ${n} pixels (${(100 * share).toFixed(1)}% of the photo).`;
    $("undo").disabled = !state.undo.length;
    updateFill();
  }

  function undo() {
    if (!state.undo.length) return;
    holeCtx.putImageData(state.undo.pop(), 0, 0);
    holeChanged();
  }

  function clearHole() {
    if (!state.photo) return;
    pushUndo();
    holeCtx.clearRect(0, 0, holeCanvas.width, holeCanvas.height);
    holeChanged();
  }

  function holeBits() { // Uint8Array, 1 where painted (alpha >= 128), row-major, photo size
    const { width, height } = holeCanvas;
    const alpha = holeCtx.getImageData(0, 0, width, height).data;
    const bits = new Uint8Array(width * height);
    for (let i = 0; i < bits.length; i += 1) bits[i] = alpha[4 * i + 3] >= 128 ? 1 : 0;
    return bits;
  }

  function cropPlan(bits) { // the crop round the painted pixels, and its working size
    const { width, height } = holeCanvas;
    let x0 = width, y0 = height, x1 = -1, y1 = -1;
    for (let y = 0; y < height; y += 1) {
      const row = y * width;
      for (let x = 0; x < width; x += 1) {
        if (bits[row + x]) {
          if (x < x0) x0 = x;
          if (x > x1) x1 = x;
          if (y < y0) y0 = y;
          y1 = y;
        }
      }
    }
    const margin = Math.max(MIN_CONTEXT, Math.ceil(CONTEXT * Math.max(x1 - x0 + 1, y1 - y0 + 1)));
    const left = Math.max(0, x0 - margin), top = Math.max(0, y0 - margin);
    const right = Math.min(width, x1 + 1 + margin), bottom = Math.min(height, y1 + 1 + margin);
    const w = right - left, h = bottom - top;
    const scale = Math.min(1, WORKING / Math.max(w, h));
    return { left, top, w, h, ww: Math.max(1, Math.round(w * scale)), wh: Math.max(1, Math.round(h * scale)) };
  }

  function cropCanvases(bits, plan) { // the working-size photo crop and its RGBA mask
    const { left, top, w, h, ww, wh } = plan;
    const image = document.createElement("canvas");
    image.width = ww;
    image.height = wh;
    const ictx = image.getContext("2d");
    ictx.imageSmoothingQuality = "high";
    ictx.drawImage(photoCanvas, left, top, w, h, 0, 0, ww, wh);
    const mask = document.createElement("canvas");
    mask.width = ww;
    mask.height = wh;
    const mctx = mask.getContext("2d");
    const data = mctx.createImageData(ww, wh);
    data.data.fill(255); // opaque: known
    const width = holeCanvas.width;
    for (let y = 0; y < h; y += 1) { // a working pixel is hole if any pixel it covers is
      const wy = Math.min(wh - 1, Math.floor((y * wh) / h));
      for (let x = 0; x < w; x += 1) {
        if (bits[(top + y) * width + left + x]) {
          data.data[4 * (wy * ww + Math.min(ww - 1, Math.floor((x * ww) / w))) + 3] = 0;
        }
      }
    }
    mctx.putImageData(data, 0, 0);
    return { image, mask };
  }

  async function pasteFill(blob, bits, plan) { // full-size PNG: the photo, painted pixels filled
    const { left, top, w, h } = plan;
    const fill = await createImageBitmap(blob);
    const up = document.createElement("canvas");
    up.width = w;
    up.height = h;
    const uctx = up.getContext("2d", { willReadFrequently: true });
    uctx.imageSmoothingQuality = "high";
    uctx.drawImage(fill, 0, 0, w, h);
    if (fill.close) fill.close();
    const filled = uctx.getImageData(0, 0, w, h).data;
    const out = document.createElement("canvas");
    out.width = photoCanvas.width;
    out.height = photoCanvas.height;
    const octx = out.getContext("2d", { willReadFrequently: true });
    octx.drawImage(photoCanvas, 0, 0);
    const region = octx.getImageData(left, top, w, h);
    const width = holeCanvas.width;
    for (let y = 0; y < h; y += 1) {
      for (let x = 0; x < w; x += 1) {
        if (bits[(top + y) * width + left + x]) {
          const i = 4 * (y * w + x);
          region.data[i] = filled[i];
          region.data[i + 1] = filled[i + 1];
          region.data[i + 2] = filled[i + 2];
        }
      }
    }
    octx.putImageData(region, left, top);
    return canvasBlob(out);
  }

  function maskCanvas() { // opaque black, transparent where painted: transparent = hole
    const m = document.createElement("canvas");
    m.width = holeCanvas.width;
    m.height = holeCanvas.height;
    const ctx = m.getContext("2d");
    ctx.fillStyle = "#000";
    ctx.fillRect(0, 0, m.width, m.height);
    ctx.globalCompositeOperation = "destination-out";
    ctx.drawImage(holeCanvas, 0, 0);
    return m;
  }

  // --- filling -------------------------------------------------------------------------------

  function updateFill() {
    const ready = state.photo && state.holePixels > 0 && checkedModels().length > 0;
    $("fill").disabled = state.busy || !ready;
    if (!state.busy) {
      let why = "";
      if (!state.photo) why = "Choose a photo first.";
      else if (!state.holePixels) why = "Paint a hole first.";
      else if (!checkedModels().length) why = "Tick at least one model.";
      $("fill-info").textContent = why;
    }
  }

  function base64(blob) {
    return new Promise((resolve, reject) => {
      const reader = new FileReader();
      reader.onload = () => resolve(String(reader.result).split(",", 2)[1]);
      reader.onerror = () => reject(reader.error);
      reader.readAsDataURL(blob);
    });
  }

  function pngBlob(b64) {
    const bytes = atob(b64);
    const array = new Uint8Array(bytes.length);
    for (let i = 0; i < bytes.length; i += 1) array[i] = bytes.charCodeAt(i);
    return new Blob([array], { type: "image/png" });
  }

  function cardScale() {
    const side = Math.max(state.photo.width, state.photo.height);
    let s = Math.min(320, Math.max(192, side)) / side;
    if (s > 1) s = Math.floor(s);
    return s;
  }

  function card(title, subtitle, key) {
    const el = document.createElement("figure");
    el.className = "card";
    if (key) el.dataset.model = key;
    const s = cardScale();
    const h = document.createElement("h3");
    h.textContent = title;
    if (subtitle) {
      const small = document.createElement("small");
      small.textContent = subtitle;
      h.append(small);
    }
    const frame = document.createElement("div");
    frame.className = "frame";
    frame.style.width = `${state.photo.width * s}px`;
    frame.style.height = `${state.photo.height * s}px`;
    const meta = document.createElement("figcaption");
    meta.className = "meta";
    el.append(h, frame, meta);
    $("cards").append(el);
    return { el, frame, meta, s };
  }

  function picture(c, url, className) {
    const img = document.createElement("img");
    img.src = url;
    img.alt = "";
    if (className) img.className = className;
    img.style.width = `${state.photo.width * c.s}px`;
    img.style.height = `${state.photo.height * c.s}px`;
    c.frame.append(img);
    return img;
  }

  async function fill() {
    const chosen = checkedModels();
    if (!state.photo || !state.holePixels || !chosen.length || state.busy) return;
    const run = ++state.run;
    state.busy = true;
    updateFill();
    const results = $("results");
    results.hidden = false;
    $("cards").textContent = "";
    const mask = maskCanvas();
    const bits = holeBits();
    const plan = cropPlan(bits);
    const crop = cropCanvases(bits, plan);
    const [image64, mask64, maskBlob] = await Promise.all([
      canvasBlob(crop.image).then(base64), canvasBlob(crop.mask).then(base64), canvasBlob(mask)]);

    const original = card("Original", `${state.photo.width} x ${state.photo.height}`);
    picture(original, state.photo.url);
    const sent = card("Hole", `${state.holePixels} pixels`);
    const masked = document.createElement("canvas");
    masked.width = state.photo.width;
    masked.height = state.photo.height;
    const mctx = masked.getContext("2d");
    mctx.drawImage(photoCanvas, 0, 0);
    mctx.globalCompositeOperation = "destination-out";
    mctx.drawImage(holeCanvas, 0, 0);
    picture(sent, masked.toDataURL("image/png"));
    const maskLink = document.createElement("a");
    maskLink.href = URL.createObjectURL(maskBlob);
    maskLink.download = `${state.photo.name}-mask.png`;
    maskLink.textContent = "Download mask";
    sent.meta.append(maskLink);

    let done = 0;
    const total = chosen.length;
    const progress = () => {
      $("fill-info").textContent = done < total ? `Filling with ${total} model${total > 1 ? "s" : ""}… ${done} of ${total} done.` : "";
    };
    progress();
    await Promise.all(chosen.map(async (model) => {
      await fillOne(model, image64, mask64, run, bits, plan);
      done += 1;
      if (run === state.run) progress();
    }));
    if (run === state.run) {
      state.busy = false;
      updateFill();
    }
  }

  async function fillOne(model, image64, mask64, run, bits, plan) {
    const c = card(model.name, `version ${model.version}`, model.name);
    c.el.dataset.state = "pending";
    const wait = document.createElement("div");
    wait.className = "progress";
    wait.innerHTML = '<div class="spinner"></div><span>filling… 0.0 s</span>';
    c.frame.append(wait);
    const started = performance.now();
    const seconds = () => ((performance.now() - started) / 1000).toFixed(1);
    const timer = setInterval(() => { wait.lastChild.textContent = `filling… ${seconds()} s`; }, 100);
    const instance = { image_bytes: { b64: image64 }, mask_bytes: { b64: mask64 } };
    if (model.signature === "inpaint_bytes") instance.hole = [0, 0, 0]; // older exports
    const url = `v1/models/${encodeURIComponent(model.name)}/versions/${model.version}:predict`;
    try {
      let response;
      try {
        response = await fetch(url, {
          method: "POST",
          headers: { "Content-Type": "application/json" },
          body: JSON.stringify({ signature_name: model.signature, instances: [instance] }),
        });
      } catch (e) {
        throw new Error(`cannot reach the server (${e.message}).`);
      }
      const text = await response.text();
      const body = parseJSON(text);
      if (!response.ok || !body || body.error) {
        const why = body && body.error ? body.error : text.slice(0, 500) || response.statusText;
        throw new Error(`HTTP ${response.status}: ${why}`);
      }
      let out = body.predictions[0];
      if (out && out.inpainted_bytes) out = out.inpainted_bytes;
      const blob = await pasteFill(pngBlob(out.b64), bits, plan);
      if (run !== state.run) return;
      const link = URL.createObjectURL(blob);
      wait.remove();
      const img = picture(c, link, "result");
      await img.decode().catch(() => {});
      const a = document.createElement("a");
      a.href = link;
      a.download = `${state.photo.name}-${model.name}-v${model.version}.png`;
      a.textContent = "Download PNG";
      const time = document.createElement("span");
      time.textContent = `${seconds()} s`;
      time.title = `filled a ${plan.w} x ${plan.h} crop at ${plan.ww} x ${plan.wh}`;
      c.meta.append(a, time);
      c.el.dataset.state = "done";
    } catch (e) {
      if (run !== state.run) return;
      wait.remove();
      c.el.classList.add("failed");
      const error = document.createElement("div");
      error.className = "error";
      error.textContent = e.message;
      c.frame.append(error);
      c.frame.style.height = "auto";
      c.frame.style.minHeight = `${state.photo.height * c.s}px`;
      c.el.dataset.state = "error";
    } finally {
      clearInterval(timer);
    }
  }

  // --- wiring ----------------------------------------------------------------------------------

  $("file").addEventListener("change", (e) => loadFile(e.target.files[0]));
  const stage = $("stage");
  document.addEventListener("dragover", (e) => {
    e.preventDefault();
    stage.classList.add("dragover");
  });
  document.addEventListener("dragleave", (e) => {
    if (!e.relatedTarget) stage.classList.remove("dragover");
  });
  document.addEventListener("drop", (e) => {
    e.preventDefault();
    stage.classList.remove("dragover");
    if (e.dataTransfer && e.dataTransfer.files.length) loadFile(e.dataTransfer.files[0]);
  });
  $("brush").addEventListener("input", () => { $("brush-value").textContent = $("brush").value; });
  $("undo").addEventListener("click", undo);
  $("clear").addEventListener("click", clearHole);
  $("fill").addEventListener("click", fill);
  $("reload").addEventListener("click", loadModels);
  window.addEventListener("resize", layout);
  document.addEventListener("keydown", (e) => {
    if ((e.ctrlKey || e.metaKey) && e.key === "z") {
      e.preventDefault();
      undo();
    } else if (e.key === "[" || e.key === "]") {
      const b = $("brush");
      b.value = Number(b.value) + (e.key === "]" ? 4 : -4);
      $("brush-value").textContent = b.value;
    }
  });
  $("undo").disabled = true;
  loadModels();
})();
