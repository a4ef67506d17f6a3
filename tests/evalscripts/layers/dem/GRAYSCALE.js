//VERSION=3
/*
title = "Grayscale (evalscript)"
description = "The GRAYSCALE layer of styles/dem/GRAYSCALE.toml: EO Browser's grey ramp over the height in metres, black at -12000 m to white at 9000 m."
collections = ["cop-dem-glo-30", "cop-dem-glo-90"]
*/
function setup() {
  return { input: ["DEM", "dataMask"], output: { bands: 4 } };
}

// Height in metres, colour: linear between the stops, the end colours beyond them.
const ramp = new ColorRampVisualizer([
  [-12000, 0x000000],
  [-9000, 0x181818],
  [-5000, 0x373737],
  [-1000, 0x3d3d3d],
  [-500, 0x464646],
  [-200, 0x4a4a4a],
  [-50, 0x505050],
  [-20, 0x545454],
  [-10, 0x5a5a5a],
  [0, 0x636363],
  [10, 0x6d6d6d],
  [30, 0x828282],
  [50, 0x8b8b8b],
  [200, 0x9f9f9f],
  [300, 0xb4b4b4],
  [400, 0xc7c7c7],
  [500, 0xd6d6d6],
  [1000, 0xe0e0e0],
  [3000, 0xebebeb],
  [5000, 0xf5f5f5],
  [7000, 0xf9f9f9],
  [9000, 0xffffff],
]);

function evaluatePixel(px) {
  if (px.dataMask === 0 || !isFinite(px.DEM)) return [0, 0, 0, 0];
  return ramp.process(px.DEM).concat(1);
}
