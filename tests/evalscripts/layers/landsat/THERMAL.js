//VERSION=3
/*
title = "Thermal (evalscript)"
description = "The THERMAL layer of styles/landsat/THERMAL.toml: B10 in kelvin through EO Browser's blue-red ramp, 223 K to 373 K."
collections = ["landsat-c2-l2", "landsat-c2-l1"]
*/
function setup() {
  return { input: ["B10", "dataMask"], output: { bands: 4 } };
}

const ramp = new ColorRampVisualizer([
  [223, 0x003d99],
  [253, 0x2e82ff],
  [263, 0x80b3ff],
  [272, 0xe0edff],
  [273, 0xffffff],
  [274, 0xfefce7],
  [283, 0xfde191],
  [293, 0xf69855],
  [303, 0xec6927],
  [323, 0xaa2d1d],
  [363, 0x650401],
  [373, 0x3d0200],
]);

function evaluatePixel(px) {
  if (px.dataMask === 0) return [0, 0, 0, 0];
  return ramp.process(px.B10).concat(1);
}
