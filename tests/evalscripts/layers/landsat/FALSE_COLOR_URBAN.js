//VERSION=3
/*
title = "False color (urban) (evalscript)"
description = "The FALSE_COLOR_URBAN layer of styles/landsat/FALSE_COLOR_URBAN.toml: 2.5 x B07, B06, B04, clipped."
collections = ["landsat-c2-l2", "landsat-c2-l1"]
*/
function setup() {
  return { input: ["B07", "B06", "B04", "dataMask"], output: { bands: 4 } };
}

function evaluatePixel(px) {
  return [2.5 * px.B07, 2.5 * px.B06, 2.5 * px.B04, px.dataMask];
}
