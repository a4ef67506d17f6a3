//VERSION=3
/*
title = "CORINE Land Cover (evalscript)"
description = "The CORINE_LAND_COVER layer of styles/corine/CORINE_LAND_COVER.toml: all 44 classes and NODATA (48) in the CLC nomenclature's colours, other values transparent."
collections = ["corine-land-cover"]
*/
function setup() {
  return { input: ["CLC", "dataMask"], output: { bands: 4, sampleType: "UINT8" } };
}

// Grid code of the CLC band (the raster value, not the CLC code), its colour: the class table of
// tiler/collections/corine-land-cover.toml.
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
  35: int2rgb(0xa6a6ff), // 411 Inland marshes
  36: int2rgb(0x4d4dff), // 412 Peat bogs
  37: int2rgb(0xccccff), // 421 Salt marshes
  38: int2rgb(0xe6e6ff), // 422 Salines
  39: int2rgb(0xa6a6e6), // 423 Intertidal flats
  40: int2rgb(0x00ccf2), // 511 Water courses
  41: int2rgb(0x80f2e6), // 512 Water bodies
  42: int2rgb(0x00ffa6), // 521 Coastal lagoons
  43: int2rgb(0xa6ffe6), // 522 Estuaries
  44: int2rgb(0xe6f2ff), // 523 Sea and ocean
  48: int2rgb(0xffffff), // 999 NODATA
};

function evaluatePixel(px) {
  const colour = classes[px.CLC];
  if (px.dataMask === 0 || colour === undefined) return [0, 0, 0, 0];
  return colour.concat(255);
}
