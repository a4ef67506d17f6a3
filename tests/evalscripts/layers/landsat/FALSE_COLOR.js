//VERSION=3
/*
title = "False color (evalscript)"
description = "The FALSE_COLOR layer of styles/landsat/FALSE_COLOR.toml: B05, B04, B03 with EO Browser's highlight compression over 0..0.4."
collections = ["landsat-c2-l2", "landsat-c2-l1"]
*/
function setup() {
  return { input: ["B05", "B04", "B03", "dataMask"], output: { bands: 4 } };
}

const stretch = new HighlightCompressVisualizer(0, 0.4);

function evaluatePixel(px) {
  return stretch.processList([px.B05, px.B04, px.B03, px.dataMask]);
}
