//VERSION=3
/*
title = "NDWI (evalscript)"
description = "The NDWI layer of styles/landsat/NDWI.toml (B05 for the near infrared): white to green below 0, white to blue on the fourth root above."
collections = ["landsat-c2-l2", "landsat-c2-l1"]
*/
function setup() {
  return { input: ["B03", "B05", "dataMask"], output: { bands: 4 } };
}

const ramp = new ColorRampVisualizer([
  [-1, 0x008000],
  [0, 0xffffff],
  [1, 0x0000cc],
]);

function evaluatePixel(px) {
  const ndwi = (px.B03 - px.B05) / (px.B03 + px.B05);
  if (px.dataMask === 0 || !isFinite(ndwi)) return [0, 0, 0, 0];
  const shown = ndwi < 0 ? ndwi : Math.sqrt(Math.sqrt(ndwi));
  return ramp.process(shown).concat(1);
}
