//VERSION=3
/*
title = "CORINE: forest and semi-natural areas (evalscript)"
description = "The CORINE_FOREST layer of styles/corine/CORINE_FOREST.toml: the grid codes of CLC classes 3xx, forest and semi-natural areas, in their colours; the other classes transparent."
collections = ["corine-land-cover"]
*/
function setup() {
  return { input: ["CLC", "dataMask"], output: { bands: 4, sampleType: "UINT8" } };
}

// Grid code of the CLC band (the raster value, not the CLC code), its colour: the class table of
// tiler/collections/corine-land-cover.toml, grid codes 23 to 34.
const classes = {
  23: int2rgb(0x80ff00), // 311 Broad-leaved forest
  24: int2rgb(0x00a600), // 312 Coniferous forest
  25: int2rgb(0x4dff00), // 313 Mixed forest
  26: int2rgb(0xccf24d), // 321 Natural grasslands
  27: int2rgb(0xa6ff80), // 322 Moors and heathland
  28: int2rgb(0xa6e64d), // 323 Sclerophyllous vegetation
  29: int2rgb(0xa6f200), // 324 Transitional woodland-shrub
  30: int2rgb(0xe6e6e6), // 331 Beaches, dunes, sands
  31: int2rgb(0xcccccc), // 332 Bare rocks
  32: int2rgb(0xccffcc), // 333 Sparsely vegetated areas
  33: int2rgb(0x000000), // 334 Burnt areas
  34: int2rgb(0xa6e6cc), // 335 Glaciers and perpetual snow
};

function evaluatePixel(px) {
  const colour = classes[px.CLC];
  if (px.dataMask === 0 || colour === undefined) return [0, 0, 0, 0];
  return colour.concat(255);
}
