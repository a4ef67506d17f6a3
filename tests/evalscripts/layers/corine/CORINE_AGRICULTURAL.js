//VERSION=3
/*
title = "CORINE: agricultural areas (evalscript)"
description = "The CORINE_AGRICULTURAL layer of styles/corine/CORINE_AGRICULTURAL.toml: the grid codes of CLC classes 2xx, agricultural areas, in their colours; the other classes transparent."
collections = ["corine-land-cover"]
*/
function setup() {
  return { input: ["CLC", "dataMask"], output: { bands: 4, sampleType: "UINT8" } };
}

// Grid code of the CLC band (the raster value, not the CLC code), its colour: the class table of
// tiler/collections/corine-land-cover.toml, grid codes 12 to 22.
const classes = {
  12: int2rgb(0xffffa8), // 211 Non-irrigated arable land
  13: int2rgb(0xffff00), // 212 Permanently irrigated land
  14: int2rgb(0xe6e600), // 213 Rice fields
  15: int2rgb(0xe68000), // 221 Vineyards
  16: int2rgb(0xf2a64d), // 222 Fruit trees and berry plantations
  17: int2rgb(0xe6a600), // 223 Olive groves
  18: int2rgb(0xe6e64d), // 231 Pastures
  19: int2rgb(0xffe6a6), // 241 Annual crops associated with permanent crops
  20: int2rgb(0xffe64d), // 242 Complex cultivation patterns
  21: int2rgb(0xe6cc4d), // 243 Land principally occupied by agriculture, with significant areas of natural vegetation
  22: int2rgb(0xf2cca6), // 244 Agro-forestry areas
};

function evaluatePixel(px) {
  const colour = classes[px.CLC];
  if (px.dataMask === 0 || colour === undefined) return [0, 0, 0, 0];
  return colour.concat(255);
}
