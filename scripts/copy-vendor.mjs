// Run by `npm ci` (postinstall): copies the map page's libraries from node_modules into the folder
// the app serves, so the page needs no CDN. The folder is git-ignored: nothing third-party is committed.
import { cpSync, rmSync } from "node:fs";

const target = "tiler/static/vendor";
rmSync(target, { recursive: true, force: true });
for (const file of ["leaflet.js", "leaflet.css", "images"]) {
  cpSync(`node_modules/leaflet/dist/${file}`, `${target}/leaflet/${file}`, { recursive: true });
}
cpSync("node_modules/leaflet/LICENSE", `${target}/leaflet/LICENSE`);
