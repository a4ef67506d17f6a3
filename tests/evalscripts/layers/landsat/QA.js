//VERSION=3
/*
title = "Pixel quality (evalscript)"
description = "The QA layer of styles/landsat/QA.toml: the QA_PIXEL flags (BQA) in EO Browser's colours, in their order of precedence; clear pixels in true colour over 0..0.255."
collections = ["landsat-c2-l2", "landsat-c2-l1"]
*/
function setup() {
  return { input: ["BQA", "B04", "B03", "B02", "dataMask"], output: { bands: 4 } };
}

// Flag bit, colour, from the first that decides.
const flags = [
  [7, [0, 0, 204]], // water
  [5, [255, 0, 255]], // snow
  [3, [225, 225, 225]], // cloud
  [1, [175, 175, 175]], // dilated cloud
  [4, [153, 102, 51]], // cloud shadow
  [2, [102, 255, 255]], // cirrus
  [0, [255, 0, 0]], // fill
];

function isSet(code, bit) {
  return ((code >> bit) & 1) === 1;
}

function evaluatePixel(px) {
  for (const [bit, colour] of flags) {
    if (isSet(px.BQA, bit)) return [colour[0] / 255, colour[1] / 255, colour[2] / 255, px.dataMask];
  }
  if (isSet(px.BQA, 6)) return [px.B04 / 0.255, px.B03 / 0.255, px.B02 / 0.255, px.dataMask];
  return [0, 0, 0, px.dataMask];
}
