//VERSION=3
/*
title = "CORINE: water bodies (evalscript)"
description = "The CORINE_WATER layer of styles/corine/CORINE_WATER.toml: the grid codes of CLC classes 5xx, water bodies, in their colours; the other classes transparent."
collections = ["corine-land-cover"]
*/
function setup() {
  return { input: ["CLC", "dataMask"], output: { bands: 4, sampleType: "UINT8" } };
}

// Grid code of the CLC band (the raster value, not the CLC code), its colour: the class table of
// tiler/collections/corine-land-cover.toml, grid codes 40 to 44.
const classes = {
  40: int2rgb(0x00ccf2), // 511 Water courses
  41: int2rgb(0x80f2e6), // 512 Water bodies
  42: int2rgb(0x00ffa6), // 521 Coastal lagoons
  43: int2rgb(0xa6ffe6), // 522 Estuaries
  44: int2rgb(0xe6f2ff), // 523 Sea and ocean
};

function evaluatePixel(px) {
  const colour = classes[px.CLC];
  if (px.dataMask === 0 || colour === undefined) return [0, 0, 0, 0];
  return colour.concat(255);
}
