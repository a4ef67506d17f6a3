//VERSION=3
/*
title = "CORINE: artificial surfaces (evalscript)"
description = "The CORINE_ARTIFICIAL layer of styles/corine/CORINE_ARTIFICIAL.toml: the grid codes of CLC classes 1xx, artificial surfaces, in their colours; the other classes transparent."
collections = ["corine-land-cover"]
*/
function setup() {
  return { input: ["CLC", "dataMask"], output: { bands: 4, sampleType: "UINT8" } };
}

// Grid code of the CLC band (the raster value, not the CLC code), its colour: the class table of
// tiler/collections/corine-land-cover.toml, grid codes 1 to 11.
const classes = {
  1: int2rgb(0xe6004d), // 111 Continuous urban fabric
  2: int2rgb(0xff0000), // 112 Discontinuous urban fabric
  3: int2rgb(0xcc4df2), // 121 Industrial or commercial units
  4: int2rgb(0xcc0000), // 122 Road and rail networks and associated land
  5: int2rgb(0xe6cccc), // 123 Port areas
  6: int2rgb(0xe6cce6), // 124 Airports
  7: int2rgb(0xa600cc), // 131 Mineral extraction sites
  8: int2rgb(0xa64d00), // 132 Dump sites
  9: int2rgb(0xff4dff), // 133 Construction sites
  10: int2rgb(0xffa6ff), // 141 Green urban areas
  11: int2rgb(0xffe6ff), // 142 Sport and leisure facilities
};

function evaluatePixel(px) {
  const colour = classes[px.CLC];
  if (px.dataMask === 0 || colour === undefined) return [0, 0, 0, 0];
  return colour.concat(255);
}
