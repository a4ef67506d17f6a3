// The map page: a Leaflet map over this server's own API (/collections, /search, /layers,
// /tilejson.json, /tiles, /wms, /statistics, /crop.tif, /timelapse). All state lives in the URL
// fragment, so a view can be shared and reloaded.
"use strict";

const $ = (id) => document.getElementById(id);
const BASE = new URL(".", location.href);  // the server, also behind a path prefix
// With API keys on, the page is opened as /?key=...; every API request carries the key.
const API_KEY = new URLSearchParams(location.search).get("key");

// `path` is relative to the server, or an absolute URL the server gave out (a link, a thumbnail).
function api(path, params = new URLSearchParams()) {
  const url = new URL(path, BASE);
  for (const [k, v] of params) url.searchParams.append(k, v);
  if (API_KEY) url.searchParams.set("key", API_KEY);
  return url.href;
}

async function getJSON(url) {
  const response = await fetch(url);
  const body = await response.json().catch(() => ({ detail: `${response.status} ${response.statusText}` }));
  if (!response.ok) throw new Error(body.detail || response.statusText);
  return body;
}

// ---------------------------------------------------------------------------------------------
// State: what is shown. The URL fragment mirrors it; the form fields edit it.

const state = {
  mode: "product",           // "product" or "mosaic"
  product: null,             // {id, collection, bbox, datetime, cloud_cover} in product mode
  layer: "TRUE_COLOR",
  custom: null,              // {expressions: [...], rescale, colormap} or {evalscript} instead of the layer
  collection: "sentinel-2-l2a",
  from: "", to: "", maxcc: 100, priority: "mostRecent", cloudmask: false,
  opacity: 1,
};
let layers = {};             // name -> layer from /layers
let collections = {};        // id -> collection from /collections (its layers, default layer, extent)

function interval() {
  return state.from || state.to ? `${state.from || ".."}/${state.to || ".."}` : "";
}

function sourceParams() {
  const q = new URLSearchParams();
  if (state.mode === "product") {
    q.set("product", state.product.id);
  } else {
    q.set("collection", state.collection);
    if (interval()) q.set("time", interval());
    if (state.maxcc < 100) q.set("maxcc", state.maxcc);
    q.set("priority", state.priority);
    if (state.cloudmask) q.set("cloudmask", "true");
  }
  return q;
}

// An evalscript travels as Sentinel Hub's EVALSCRIPT does: its UTF-8 in base64 (URL-safe, unpadded).
function toBase64Url(text) {
  const bytes = new TextEncoder().encode(text);
  let binary = "";
  for (let i = 0; i < bytes.length; i += 0x8000) binary += String.fromCharCode(...bytes.subarray(i, i + 0x8000));
  return btoa(binary).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
}

function fromBase64Url(text) {
  const binary = atob(text.replace(/-/g, "+").replace(/_/g, "/"));
  return new TextDecoder().decode(Uint8Array.from(binary, (c) => c.charCodeAt(0)));
}

function styleParams(custom = state.custom) {
  const q = new URLSearchParams();
  if (custom?.evalscript) {
    q.set("evalscript", toBase64Url(custom.evalscript));
  } else if (custom) {
    q.set("expression", custom.expressions.join(";"));
    if (custom.rescale) q.set("rescale", custom.rescale);
    if (custom.colormap && custom.expressions.length === 1) q.set("colormap", custom.colormap);
  } else {
    q.set("layer", state.layer);
  }
  return q;
}

const activeCollection = () => (state.mode === "product" && state.product ? state.product.collection : state.collection);
// The layer names a collection has, and the one to show when the current one does not apply.
const layersOf = (id) => (collections[id]?.layers || []).map((l) => l.name);
const defaultLayer = (id) => collections[id]?.default_layer || layersOf(id)[0] || state.layer;
// The layer as the collection on screen has it (one name may have a layer per family of collections).
const layerInfo = () => ({ ...layers[state.layer],
  ...(collections[activeCollection()]?.layers || []).find((l) => l.name === state.layer) });

function writeHash() {
  const c = map.getCenter();
  const h = new URLSearchParams();
  h.set("map", `${map.getZoom()}/${c.lat.toFixed(6)}/${c.lng.toFixed(6)}`);  // 0.1 m
  h.set("mode", state.mode);
  if (state.mode === "product" && state.product) h.set("product", state.product.id);
  if (state.custom?.evalscript) {
    h.set("evalscript", toBase64Url(state.custom.evalscript));
  } else if (state.custom) {
    h.set("expression", state.custom.expressions.join(";"));
    if (state.custom.rescale) h.set("rescale", state.custom.rescale);
    if (state.custom.colormap) h.set("colormap", state.custom.colormap);
  } else {
    h.set("layer", state.layer);
  }
  h.set("collection", state.collection);
  if (state.from) h.set("from", state.from);
  if (state.to) h.set("to", state.to);
  if (state.maxcc < 100) h.set("maxcc", state.maxcc);
  if (state.priority !== "mostRecent") h.set("priority", state.priority);
  if (state.cloudmask) h.set("cloudmask", "1");
  if (state.opacity < 1) h.set("opacity", state.opacity);
  // "/", ":" and ";" are fine in a fragment and keep it readable.
  history.replaceState(null, "", "#" + h.toString().replace(/%2F/g, "/").replace(/%3A/g, ":").replace(/%3B/g, ";"));
}

function readHash() {
  const h = new URLSearchParams(location.hash.slice(1));
  const view = (h.get("map") || "").split("/").map(Number);
  if (h.get("mode") === "mosaic") state.mode = "mosaic";
  if (h.get("layer")) state.layer = h.get("layer");
  if (h.get("expression")) {
    state.custom = { expressions: h.get("expression").split(";"), rescale: h.get("rescale") || "",
                     colormap: h.get("colormap") || "" };
  }
  if (h.get("evalscript")) {
    try { state.custom = { evalscript: fromBase64Url(h.get("evalscript")) }; } catch { /* a damaged link: the layer */ }
  }
  if (h.get("collection")) state.collection = h.get("collection");
  state.from = h.get("from") || "";
  state.to = h.get("to") || "";
  if (h.has("maxcc")) state.maxcc = Number(h.get("maxcc"));
  if (h.get("priority")) state.priority = h.get("priority");
  state.cloudmask = h.get("cloudmask") === "1";
  if (h.has("opacity")) state.opacity = Number(h.get("opacity"));
  return {
    view: view.length === 3 && view.every(Number.isFinite) ? { zoom: view[0], center: [view[1], view[2]] } : null,
    product: h.get("product"),
  };
}

function stateToForm() {
  $("collection").value = state.collection;
  $("date-from").value = state.from;
  $("date-to").value = state.to;
  $("maxcc").value = state.maxcc;
  $("maxcc-value").textContent = `${state.maxcc} %`;
  $("priority").value = state.priority;
  $("cloudmask").checked = state.cloudmask;
  $("cloudmask").disabled = collections[state.collection]?.cloud_mask === false;
  $("opacity").value = state.opacity;
  $("layer").value = state.layer;
  if (state.custom?.evalscript) {
    setCustomKind("script");
    $("evalscript").value = state.custom.evalscript;
    $("custom-section").open = true;
  } else if (state.custom) {
    const e = state.custom.expressions;
    setCustomKind(e.length === 3 ? "3" : "1");
    e.forEach((text, i) => { $(`expr-${i}`).value = text; });
    $("rescale").value = state.custom.rescale;
    $("colormap").value = state.custom.colormap;
    $("custom-section").open = true;
  }
  document.body.classList.toggle("mosaic", state.mode === "mosaic");
  for (const b of document.querySelectorAll("#modes button")) b.classList.toggle("active", b.dataset.mode === state.mode);
}

function formToState() {
  state.collection = $("collection").value;
  state.from = $("date-from").value;
  state.to = $("date-to").value;
  state.maxcc = Number($("maxcc").value);
  state.priority = $("priority").value;
  state.cloudmask = $("cloudmask").checked;
}

// ---------------------------------------------------------------------------------------------
// Map: an offline base (plain background and a graticule), the imagery, footprint outlines.

const map = L.map("map", { worldCopyJump: true, zoomSnap: 1, maxZoom: 19 }).setView([48, 10], 4);
map.attributionControl.setPrefix('<a href="https://leafletjs.com">Leaflet</a>');
let imagery = null;

const Graticule = L.LayerGroup.extend({
  onAdd(m) { L.LayerGroup.prototype.onAdd.call(this, m); m.on("moveend", this.redraw, this); this.redraw(); },
  onRemove(m) { m.off("moveend", this.redraw, this); L.LayerGroup.prototype.onRemove.call(this, m); },
  redraw() {
    this.clearLayers();
    const b = this._map.getBounds();
    const span = Math.min(b.getEast() - b.getWest(), b.getNorth() - b.getSouth());
    // The largest of 1, 2, 5 x 10^n that gives at least four lines across the view.
    const steps = [];
    for (let e = 1; e >= -5; e--) for (const m of [5, 2, 1]) steps.push(m * 10 ** e);
    const step = [30, 20, 10, ...steps].find((s) => span / s >= 4) || 1e-5;
    const digits = Math.max(0, -Math.floor(Math.log10(step)));
    const style = { color: "#9aa8b6", weight: 1, opacity: 0.6, interactive: false, pane: "graticule" };
    const label = (text, at, anchor) => L.marker(at, { interactive: false, keyboard: false, pane: "graticule",
      icon: L.divIcon({ className: "graticule-label", html: text, iconSize: null, iconAnchor: anchor }) });
    const south = Math.max(b.getSouth(), -85), north = Math.min(b.getNorth(), 85);
    for (let x = Math.ceil(b.getWest() / step) * step; x <= b.getEast(); x += step) {
      this.addLayer(L.polyline([[south, x], [north, x]], style));
      this.addLayer(label(`${x.toFixed(digits)}°`, [north, x], [-3, -3]));
    }
    for (let y = Math.ceil(south / step) * step; y <= north; y += step) {
      this.addLayer(L.polyline([[y, b.getWest()], [y, b.getEast()]], style));
      this.addLayer(label(`${y.toFixed(digits)}°`, [y, b.getWest()], [-3, 14]));
    }
  },
});
// Below the imagery, so lines and labels never cover the data.
map.createPane("graticule").style.zIndex = 150;
new Graticule().addTo(map);
// The legend sits on the map, where the eye is.
const legend = L.control({ position: "bottomright" });
legend.onAdd = () => L.DomUtil.create("div", "legend-control");
legend.addTo(map).getContainer().append($("legend"));
const outline = L.geoJSON(null, { style: { color: "#e8a33d", weight: 2, fill: false }, interactive: false }).addTo(map);

function status(text) { $("status").textContent = text; }

function describe() {
  const c = state.custom;
  const what = c?.evalscript ? "custom evalscript" : c ? `custom: ${c.expressions.join("; ")}` : (layerInfo().title || state.layer);
  if (state.mode === "product") {
    const p = state.product;
    const cloud = p.cloud_cover == null ? "" : `, ${p.cloud_cover.toFixed(0)} % cloud`;
    return `${what} of ${p.id} (${p.datetime.slice(0, 10)}${cloud})`;
  }
  const period = interval() ? interval().replace("/", " to ") : "all dates";
  return `${what}: ${$("collection").selectedOptions[0].text} mosaic, ${period}, ≤ ${state.maxcc} % cloud, ${$("priority").selectedOptions[0].text.toLowerCase()} first`;
}

// Asks the server for the TileJSON of the current state first: a refused expression or layer gets
// its message shown and the imagery on screen stays as it was (no broken tiles).
async function show() {
  if (state.mode === "product" && !state.product) return;
  if (!layersOf(activeCollection()).includes(state.layer)) state.layer = defaultLayer(activeCollection());
  const query = sourceParams();
  for (const [k, v] of styleParams()) query.set(k, v);
  let tilejson;
  try {
    tilejson = await getJSON(api("tilejson.json", query));
  } catch (error) {
    if (state.custom) $("expression-error").textContent = error.message;
    else status(error.message);
    return false;
  }
  $("expression-error").textContent = "";
  status("");
  const next = L.tileLayer(tilejson.tiles[0], {
    maxZoom: 19, maxNativeZoom: tilejson.maxzoom, opacity: state.opacity, attribution: tilejson.attribution,
  });
  let failed = 0;
  next.on("tileerror", () => status(`${++failed} tile(s) could not be drawn`));
  // The old imagery stays until the new tiles are in, so switching never flashes an empty map.
  // Only the current layer clears the others (a layer must not remove itself from its own "load").
  next.once("load", () => next === imagery
    && map.eachLayer((l) => l instanceof L.TileLayer && l !== next && map.removeLayer(l)));
  imagery = next.addTo(map);
  $("showing").textContent = describe();
  updateLayerPicker();
  updateLegend();
  updateGis(tilejson.tiles[0]);
  updateDownloads();
  writeHash();
  return true;
}

// ---------------------------------------------------------------------------------------------
// Layers and legend

// The picker offers the layers of the collection on screen, by their titles for that collection.
function updateLayerPicker() {
  const own = collections[activeCollection()]?.layers || [];
  $("layer").replaceChildren(...own.map((l) => new Option(l.title, l.name)));
  $("layer").value = state.layer;
  $("layer").disabled = Boolean(state.custom);
  $("layer-description").textContent = state.custom
    ? "A custom layer is shown (see Custom layer)." : layerInfo().description || "";
}

function updateLegend() {
  const image = $("legend-image");
  if (state.custom) {
    image.hidden = true;
    const c = state.custom;
    if (c.evalscript) {
      $("legend-text").textContent = `evalscript, ${c.evalscript.split("\n").length} lines`;
      return;
    }
    $("legend-text").textContent = c.expressions.length === 1
      ? `${c.expressions[0]} over ${c.rescale || "0,1"}, ${c.colormap || "grey"}`
      : `red ${c.expressions[0]}, green ${c.expressions[1]}, blue ${c.expressions[2]} over ${c.rescale || "0,1"}`;
    return;
  }
  $("legend-text").textContent = "";
  image.hidden = false;
  image.src = api("wms", new URLSearchParams({
    SERVICE: "WMS", VERSION: "1.3.0", REQUEST: "GetLegendGraphic", FORMAT: "image/png",
    LAYER: `${activeCollection()}:${state.layer}`,
  }));
}

// ---------------------------------------------------------------------------------------------
// WMS / WMTS / XYZ for GIS tools, and values at a clicked point (WMS GetFeatureInfo)

const wmsLayer = () => `${activeCollection()}:${state.custom ? defaultLayer(activeCollection()) : state.layer}`;

function wmsVendorParams() {
  const q = new URLSearchParams();
  if (state.mode === "product") q.set("PRODUCT", state.product.id);
  else {
    if (interval()) q.set("TIME", interval());
    if (state.maxcc < 100) q.set("MAXCC", state.maxcc);
    q.set("PRIORITY", state.priority);
    if (state.cloudmask) q.set("CLOUDMASK", "true");
  }
  if (state.custom) for (const [k, v] of styleParams()) q.set(k.toUpperCase(), v);
  return q;
}

function updateGis(xyz) {
  $("gis-wms").value = api("wms", new URLSearchParams({ SERVICE: "WMS", REQUEST: "GetCapabilities" }));
  $("gis-wms-layer").value = `LAYERS=${wmsLayer()}&${wmsVendorParams()}`;
  $("gis-wmts").value = api("wmts/1.0.0/WMTSCapabilities.xml");
  $("gis-xyz").value = decodeURI(xyz);
}

async function showValues(event) {
  if (!imagery || map.pm.globalDrawModeEnabled()) return;
  const size = map.getSize();
  const sw = L.CRS.EPSG3857.project(map.getBounds().getSouthWest());
  const ne = L.CRS.EPSG3857.project(map.getBounds().getNorthEast());
  const point = map.latLngToContainerPoint(event.latlng);
  const query = new URLSearchParams({
    SERVICE: "WMS", VERSION: "1.3.0", REQUEST: "GetFeatureInfo", CRS: "EPSG:3857",
    BBOX: [sw.x, sw.y, ne.x, ne.y].join(","), WIDTH: size.x, HEIGHT: size.y,
    I: Math.round(point.x), J: Math.round(point.y), LAYERS: wmsLayer(), QUERY_LAYERS: wmsLayer(),
    INFO_FORMAT: "application/json", FEATURE_COUNT: 5,
  });
  for (const [k, v] of wmsVendorParams()) query.set(k, v);
  const popup = L.popup({ maxWidth: 320 }).setLatLng(event.latlng).setContent("…").openOn(map);
  const response = await fetch(api("wms", query));
  const text = await response.text();
  if (!response.ok || !response.headers.get("content-type").includes("json")) {
    const message = new DOMParser().parseFromString(text, "text/xml").querySelector("ServiceException");
    popup.setContent(`<p class="error"></p>`);
    popup.getElement().querySelector(".error").textContent = message ? message.textContent : text;
    return;
  }
  popup.setContent(valuesTable(JSON.parse(text).layers[0]));
}

function valuesTable(result) {
  const root = document.createElement("div");
  root.className = "values";
  const add = (parent, tag, text) => { const el = document.createElement(tag); el.textContent = text; parent.append(el); return el; };
  add(root, "div", `${result.lat.toFixed(5)}, ${result.lon.toFixed(5)}`);
  if (!result.products.length) add(root, "p", "No data here.");
  for (const entry of result.products) {
    add(root, "h3", `${entry.datetime.slice(0, 10)} ${entry.product}`);
    const table = add(root, "table", "");
    const row = (name, value) => { const tr = add(table, "tr", ""); add(tr, "td", name); add(tr, "td", value); };
    row("layer value", entry.value.map((v) => (v == null ? "no data" : v.toFixed(4))).join(", "));
    // Class bands (SCL, WorldCover's Map, CORINE's CLC): the class code and its name.
    for (const [key, cls] of Object.entries(entry)) {
      if (cls && typeof cls === "object" && "class" in cls) row(key.toUpperCase(), `${cls.class} ${cls.name}`);
    }
    const units = entry.units || {};
    for (const [band, value] of Object.entries(entry.bands)) row(band, `${value.toFixed(4)}${units[band] ? ` ${units[band]}` : ""}`);
  }
  return root;
}

// ---------------------------------------------------------------------------------------------
// Time series over a drawn point or polygon (/statistics), downloads of the view (/crop.tif,
// /timelapse). The series reads the collection's products in the search's dates and cloud limit.

let drawn = null;            // the drawn Leaflet layer
let chart = null;

function seriesStyle() {
  // A picture of three bands has no single value: the series then shows NDVI where it applies.
  const q = styleParams();
  const single = state.custom ? state.custom.expressions.length === 1 : layers[state.layer]?.expressions.length === 1;
  if (!single) return new URLSearchParams({ layer: "NDVI" });
  return q;
}

function statisticsBody(geometry, format = "json") {
  const body = { geometry, collection: activeCollection(), interval: $("stats-interval").value, format };
  if (interval()) body.time = interval();
  if (state.maxcc < 100) body.maxcc = state.maxcc;
  if (state.cloudmask) body.cloudmask = true;
  for (const [k, v] of seriesStyle()) body[k] = v;
  return body;
}

async function postStatistics(body) {
  const response = await fetch(api("statistics"), {
    method: "POST", headers: { "Content-Type": "application/json" }, body: JSON.stringify(body),
  });
  if (!response.ok) {
    const error = await response.json().catch(() => ({ detail: response.statusText }));
    throw new Error(error.detail);
  }
  return response;
}

async function showSeries() {
  if (!drawn) return;
  const geometry = drawn.toGeoJSON().geometry;
  $("stats-status").textContent = "Measuring…";
  let answer;
  try {
    answer = await (await postStatistics(statisticsBody(geometry))).json();
  } catch (error) {
    $("stats-status").textContent = error.message;
    return;
  }
  const name = answer.outputs[0];
  const rows = answer.intervals.map((i) => ({ date: i.from.slice(0, 10), products: i.products, ...i.outputs[name] }));
  const cloudy = rows.filter((r) => r.cloud > 0).length;
  $("stats-status").textContent = rows.length
    ? `${name}: ${rows.length} interval(s), ${answer.pixels} pixel(s) at ${answer.resolution} m; ${cloudy} with clouds masked`
    : "No products here in these dates.";
  drawTable(rows);
  drawChart(name, rows);
  $("stats-csv").hidden = !rows.length;
}

function drawTable(rows) {
  const table = $("stats-table");
  table.replaceChildren();
  const add = (parent, tag, text) => { const el = document.createElement(tag); el.textContent = text; parent.append(el); return el; };
  const head = add(table, "tr", "");
  for (const title of ["date", "mean", "valid", "cloud"]) add(head, "th", title);
  for (const r of rows) {
    const tr = add(table, "tr", "");
    tr.className = r.cloud > 0 ? "cloudy" : "";
    add(tr, "td", r.date);
    add(tr, "td", r.mean == null ? "no data" : r.mean.toFixed(4));
    add(tr, "td", r.valid);
    add(tr, "td", r.cloud);
  }
}

function drawChart(name, rows) {
  if (chart) chart.destroy();
  chart = null;
  if (!rows.length) return;
  const xs = rows.map((r) => Date.parse(r.date) / 1000);
  const means = rows.map((r) => r.mean);
  // Dates with clouds masked are marked on the line; with no clear pixel left, at the bottom.
  const low = Math.min(...means.filter((m) => m != null), 0);
  const marks = rows.map((r) => (r.cloud > 0 ? (r.mean ?? low) : null));
  chart = new uPlot({
    width: 290, height: 170, legend: { show: true },
    scales: { x: { time: true } },
    series: [
      {},
      { label: name, stroke: "#2e7d32", width: 2, spanGaps: true, points: { show: true, size: 5 } },
      { label: "clouds masked", stroke: "#e8a33d", width: 0, paths: () => null, points: { show: true, size: 9, fill: "#e8a33d" } },
    ],
  }, [xs, means, marks], $("chart"));
}

async function downloadCsv() {
  let response;
  try {
    response = await postStatistics(statisticsBody(drawn.toGeoJSON().geometry, "csv"));
  } catch (error) {
    $("stats-status").textContent = error.message;
    return;
  }
  const link = document.createElement("a");
  link.href = URL.createObjectURL(await response.blob());
  link.download = "statistics.csv";
  link.click();
  URL.revokeObjectURL(link.href);
}

function startDrawing(shape) {
  if (drawn) map.removeLayer(drawn);
  drawn = null;
  map.pm.enableDraw(shape, { continueDrawing: false });
}

function viewBox() {
  const b = map.getBounds();
  const clamp = (v, lim) => Math.max(-lim, Math.min(lim, v));
  return [clamp(b.getWest(), 180), clamp(b.getSouth(), 85), clamp(b.getEast(), 180), clamp(b.getNorth(), 85)]
    .map((v) => v.toFixed(6)).join(",");
}

function updateDownloads() {
  if (!imagery) return;
  const crop = sourceParams();
  for (const [k, v] of styleParams()) crop.set(k, v);
  crop.set("bbox", viewBox());
  crop.set("width", Math.min(2048, map.getSize().x));
  $("download-tiff").href = api("crop.tif", crop);
  $("download-visual").href = api("crop.tif", new URLSearchParams([...crop, ["visual", "true"]]));
  const lapse = new URLSearchParams({ collection: activeCollection(), bbox: viewBox(), width: 512 });
  if (interval()) lapse.set("time", interval());
  if (state.maxcc < 100) lapse.set("maxcc", state.maxcc);
  if (state.cloudmask) lapse.set("cloudmask", "true");
  for (const [k, v] of styleParams()) lapse.set(k, v);
  $("timelapse-link").href = api(`timelapse.${$("timelapse-format").value}`, lapse);
}

// ---------------------------------------------------------------------------------------------
// Search

let nextPage = null;

function searchQuery() {
  const b = map.getBounds();
  const clamp = (v, lim) => Math.max(-lim, Math.min(lim, v));
  const q = new URLSearchParams({
    collection: state.collection,
    bbox: [clamp(b.getWest(), 180), clamp(b.getSouth(), 90), clamp(b.getEast(), 180), clamp(b.getNorth(), 90)]
      .map((v) => v.toFixed(6)).join(","),
    limit: 20,
  });
  if (interval()) q.set("datetime", interval());
  if (state.maxcc < 100) q.set("maxcc", state.maxcc);
  return q;
}

async function search(url) {
  $("search-status").textContent = "Searching…";
  let page;
  try {
    page = await getJSON(url);
  } catch (error) {
    $("search-status").textContent = error.message;
    return;
  }
  if (!url.includes("page=")) $("results").replaceChildren();
  for (const item of page.features) $("results").append(resultItem(item));
  const shown = $("results").children.length;
  $("search-status").textContent = page.numberMatched === 0
    ? "Nothing found here; zoom out or widen the dates." : `${shown} of ${page.numberMatched} products`;
  nextPage = page.links.find((l) => l.rel === "next")?.href || null;
  $("more-results").hidden = !nextPage;
}

function resultItem(item) {
  const li = document.createElement("li");
  li.dataset.id = item.id;
  const img = document.createElement("img");
  img.loading = "lazy";
  img.alt = "";
  img.src = api(item.assets.thumbnail.href);
  const meta = document.createElement("div");
  meta.className = "meta";
  const cloud = item.properties["eo:cloud_cover"];
  meta.innerHTML = '<div class="date"></div><div class="cloud"></div><div class="id"></div>';
  meta.querySelector(".date").textContent = item.properties.datetime.replace("T", " ").slice(0, 16) + " UTC";
  meta.querySelector(".cloud").textContent = cloud == null ? "cloud cover unknown" : `${cloud.toFixed(1)} % cloud`;
  meta.querySelector(".id").textContent = item.id;
  li.append(img, meta);
  li.onmouseenter = () => outline.clearLayers().addData(item);
  li.onmouseleave = () => outline.clearLayers();
  li.onclick = () => {
    for (const el of $("results").children) el.classList.toggle("active", el === li);
    showProduct(productFromItem(item), true);
  };
  li.classList.toggle("active", state.mode === "product" && state.product?.id === item.id);
  return li;
}

function productFromItem(item) {
  return { id: item.id, collection: item.collection, bbox: item.bbox,
           datetime: item.properties.datetime, cloud_cover: item.properties["eo:cloud_cover"] };
}

function fitBbox([w, s, e, n]) { map.fitBounds([[s, w], [n, e]]); }

async function showProduct(product, zoom) {
  state.mode = "product";
  state.product = product;
  stateToForm();
  if (zoom) fitBbox(product.bbox);
  await show();
}

// ---------------------------------------------------------------------------------------------
// Custom layer

// kind: "1" (one value), "3" (red, green, blue) or "script" (an evalscript).
function setCustomKind(kind) {
  for (const radio of document.querySelectorAll("input[name=custom-kind]")) radio.checked = radio.value === kind;
  $("custom-form").classList.toggle("rgb", kind === "3");
  $("custom-form").classList.toggle("script", kind === "script");
  $("expr-label-0").firstChild.textContent = kind === "3" ? "Red " : "Expression ";
  $("expr-0").placeholder = kind === "3" ? "B04*2.5" : "(B08-B04)/(B08+B04)";
}

async function applyCustom() {
  const kind = document.querySelector("input[name=custom-kind]:checked").value;
  let custom;
  if (kind === "script") {
    const evalscript = $("evalscript").value;
    if (!evalscript.trim()) { $("expression-error").textContent = "paste an evalscript or load one from a file"; return; }
    custom = { evalscript };
  } else {
    const n = Number(kind);
    const expressions = [0, 1, 2].slice(0, n).map((i) => $(`expr-${i}`).value.trim());
    if (expressions.some((e) => !e)) {
      $("expression-error").textContent = n === 3 ? "give an expression for red, green and blue" : "type an expression";
      return;
    }
    custom = { expressions, rescale: $("rescale").value.trim(), colormap: $("colormap").value };
  }
  const previous = state.custom;
  state.custom = custom;
  const ok = await show();
  $(kind === "script" ? "evalscript" : "expr-0").classList.toggle("invalid", ok === false);
  if (ok === false) state.custom = previous;
}

// A file's text goes into the editor and is applied at once.
async function loadScriptFile() {
  const file = $("evalscript-file").files[0];
  if (!file) return;
  $("evalscript").value = await file.text();
  setCustomKind("script");
  await applyCustom();
}

// ---------------------------------------------------------------------------------------------
// Collections: picking one shows its mosaic with its own layers, where it has products.

function viewMeets([w, s, e, n]) {
  const b = map.getBounds();
  return b.getWest() < e && w < b.getEast() && b.getSouth() < n && s < b.getNorth();
}

async function pickCollection() {
  formToState();
  const picked = collections[state.collection];
  state.mode = "mosaic";
  state.custom = null;
  if (!layersOf(state.collection).includes(state.layer)) state.layer = defaultLayer(state.collection);
  if (!picked.cloud_mask) state.cloudmask = false;
  stateToForm();
  const extent = picked.extent?.spatial.bbox[0];
  if (extent && !viewMeets(extent)) fitBbox(extent);
  await show();
  search(api("search", searchQuery()));
}

function fillCollections(listing) {
  for (const c of listing.collections) {
    collections[c.id] = c;
    const option = new Option(c.products ? c.title : `${c.title} (no products)`, c.id);
    $("collection").add(option);
    if (c.default && !location.hash.includes("collection=")) state.collection = c.id;
  }
}

// ---------------------------------------------------------------------------------------------
// Start: restore the state from the URL, or show the newest product.

function wire() {
  for (const b of document.querySelectorAll("#modes button")) {
    b.onclick = () => {
      if (b.dataset.mode === "mosaic") { formToState(); state.mode = "mosaic"; stateToForm(); show(); }
      else if (state.product) showProduct(state.product, false);
      else search(api("search", searchQuery()));
    };
  }
  $("show-mosaic").onclick = (e) => { e.preventDefault(); formToState(); state.mode = "mosaic"; stateToForm(); show(); };
  $("collection").onchange = pickCollection;
  $("maxcc").oninput = () => { $("maxcc-value").textContent = `${$("maxcc").value} %`; };
  $("search-form").onsubmit = (e) => {
    e.preventDefault();
    formToState();
    search(api("search", searchQuery()));
    if (state.mode === "mosaic") show();
    updateDownloads();
    showSeries();
  };
  $("more-results").onclick = () => nextPage && search(api(nextPage));
  $("layer").onchange = () => { state.layer = $("layer").value; show(); };
  $("opacity").oninput = () => {
    state.opacity = Number($("opacity").value);
    if (imagery) imagery.setOpacity(state.opacity);
    writeHash();
  };
  for (const radio of document.querySelectorAll("input[name=custom-kind]")) radio.onchange = () => setCustomKind(radio.value);
  $("evalscript-file").onchange = loadScriptFile;
  $("custom-form").onsubmit = (e) => { e.preventDefault(); applyCustom(); };
  $("clear-custom").onclick = () => { state.custom = null; $("expression-error").textContent = ""; show(); };
  map.on("moveend", () => { if (imagery) { writeHash(); updateDownloads(); } });
  map.on("click", showValues);
  $("draw-point").onclick = () => startDrawing("Marker");
  $("draw-polygon").onclick = () => startDrawing("Polygon");
  map.on("pm:create", (e) => { drawn = e.layer; showSeries(); });
  $("stats-interval").onchange = showSeries;
  $("stats-csv").onclick = downloadCsv;
  $("timelapse-format").onchange = updateDownloads;
}

async function start() {
  wire();
  const restored = readHash();
  try {
    const [listing, catalog] = await Promise.all([getJSON(api("layers")), getJSON(api("collections"))]);
    for (const layer of listing.layers) {
      // A name may have one layer per family of collections: its descriptions are looked up by name.
      const known = layers[layer.name];
      layers[layer.name] = known ? {...known, collections: [...known.collections, ...layer.collections]} : layer;
    }
    fillCollections(catalog);
    stateToForm();
    updateLayerPicker();
    if (restored.view) map.setView(restored.view.center, restored.view.zoom);
    if (restored.product) {
      const p = await getJSON(api(`products/${encodeURIComponent(restored.product)}`));
      await showProduct({ id: p.id, collection: p.collection, bbox: p.bounds, datetime: p.datetime,
                          cloud_cover: p.cloud_cover }, !restored.view);
    } else if (state.mode === "mosaic") {
      await show();
    } else {
      const newest = await getJSON(api("search", new URLSearchParams({ limit: 1, collection: state.collection })));
      if (!newest.features.length) { status("The archive holds no products yet."); return; }
      await showProduct(productFromItem(newest.features[0]), !restored.view);
    }
    search(api("search", searchQuery()));
  } catch (error) {
    status(error.message);
  }
}

start();
