//VERSION=3
/*
title = "WorldCover map (evalscript)"
description = "The WORLDCOVER_MAP layer of styles/worldcover/WORLDCOVER_MAP.toml: the eleven classes of the Map band in ESA's colours, other values transparent."
collections = ["esa-worldcover"]
*/
function setup() {
  return { input: ["Map", "dataMask"], output: { bands: 4, sampleType: "UINT8" } };
}

// Class value of the Map band, its colour: the class table of tiler/collections/esa-worldcover.toml.
const classes = {
  10: int2rgb(0x006400), // Tree cover
  20: int2rgb(0xffbb22), // Shrubland
  30: int2rgb(0xffff4c), // Grassland
  40: int2rgb(0xf096ff), // Cropland
  50: int2rgb(0xfa0000), // Built-up
  60: int2rgb(0xb4b4b4), // Bare / sparse vegetation
  70: int2rgb(0xf0f0f0), // Snow and ice
  80: int2rgb(0x0064c8), // Permanent water bodies
  90: int2rgb(0x0096a0), // Herbaceous wetland
  95: int2rgb(0x00cf75), // Mangroves
  100: int2rgb(0xfae6a0), // Moss and lichen
};

function evaluatePixel(px) {
  const colour = classes[px.Map];
  if (px.dataMask === 0 || colour === undefined) return [0, 0, 0, 0];
  return colour.concat(255);
}
