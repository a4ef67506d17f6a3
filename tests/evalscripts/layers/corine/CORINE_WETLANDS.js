//VERSION=3
/*
title = "CORINE: wetlands (evalscript)"
description = "The CORINE_WETLANDS layer of styles/corine/CORINE_WETLANDS.toml: the grid codes of CLC classes 4xx, wetlands, in their colours; the other classes transparent."
collections = ["corine-land-cover"]
*/
function setup() {
  return { input: ["CLC", "dataMask"], output: { bands: 4, sampleType: "UINT8" } };
}

// Grid code of the CLC band (the raster value, not the CLC code), its colour: the class table of
// tiler/collections/corine-land-cover.toml, grid codes 35 to 39.
const classes = {
  35: int2rgb(0xa6a6ff), // 411 Inland marshes
  36: int2rgb(0x4d4dff), // 412 Peat bogs
  37: int2rgb(0xccccff), // 421 Salt marshes
  38: int2rgb(0xe6e6ff), // 422 Salines
  39: int2rgb(0xa6a6e6), // 423 Intertidal flats
};

function evaluatePixel(px) {
  const colour = classes[px.CLC];
  if (px.dataMask === 0 || colour === undefined) return [0, 0, 0, 0];
  return colour.concat(255);
}
