//VERSION=3
/*
title = "Topographic (evalscript)"
description = "The TOPOGRAPHIC layer of styles/dem/TOPOGRAPHIC.toml: EO Browser's topographic ramp over the height in metres: the sea (0 m) dark blue, land from right above it in greens, then browns, white above 6000 m."
collections = ["cop-dem-glo-30", "cop-dem-glo-90"]
*/
function setup() {
  return { input: ["DEM", "dataMask"], output: { bands: 4 } };
}

// Height in metres, colour: linear between the stops, the end colours beyond them.
const ramp = new ColorRampVisualizer([
  [0, 0x0f0f8c],
  [0.00001, 0x165407],
  [10, 0x1e5e14],
  [25, 0x266821],
  [50, 0x2d722d],
  [75, 0x357c3a],
  [100, 0x3d873d],
  [200, 0x4c933f],
  [300, 0x5ea354],
  [400, 0x72b266],
  [500, 0x7aba70],
  [600, 0x84c17a],
  [700, 0x96ce8e],
  [800, 0xa5d69b],
  [900, 0xaadda0],
  [1000, 0xfcedbf],
  [1500, 0xead8af],
  [2000, 0xd6c49e],
  [2500, 0xc1af89],
  [3000, 0xad9b75],
  [3500, 0x998760],
  [4000, 0x87724c],
  [4500, 0x726038],
  [5000, 0x5e4c26],
  [5500, 0x493811],
  [6000, 0xe5e5e5],
  [7000, 0xf2f2f2],
  [8000, 0xffffff],
]);

function evaluatePixel(px) {
  if (px.dataMask === 0 || !isFinite(px.DEM)) return [0, 0, 0, 0];
  return ramp.process(px.DEM).concat(1);
}
