// Run by `npm ci` (postinstall): copies the map page's libraries from node_modules into the folder
// the app serves, so the page needs no CDN. The folder is git-ignored: nothing third-party is committed.
import { cpSync, rmSync } from "node:fs";

const target = "tiler/static/vendor";
rmSync(target, { recursive: true, force: true });
for (const file of ["leaflet.js", "leaflet.css", "images"]) {
  cpSync(`node_modules/leaflet/dist/${file}`, `${target}/leaflet/${file}`, { recursive: true });
}
cpSync("node_modules/leaflet/LICENSE", `${target}/leaflet/LICENSE`);
// Drawing a point or a polygon for statistics (Leaflet-Geoman), and the time-series chart (uPlot).
const geoman = "node_modules/@geoman-io/leaflet-geoman-free";
for (const file of ["leaflet-geoman.js", "leaflet-geoman.css"]) cpSync(`${geoman}/dist/${file}`, `${target}/geoman/${file}`);
cpSync(`${geoman}/LICENSE`, `${target}/geoman/LICENSE`);
for (const file of ["uPlot.iife.min.js", "uPlot.min.css"]) cpSync(`node_modules/uplot/dist/${file}`, `${target}/uplot/${file}`);
cpSync("node_modules/uplot/LICENSE", `${target}/uplot/LICENSE`);
