//VERSION=3
/*
title = "Color (evalscript)"
description = "The COLOR layer of styles/dem/COLOR.toml: EO Browser's colour ramp over the height in metres: depths in blues, greys and browns up to 500 m, then blues to white at 9000 m."
collections = ["cop-dem-glo-30", "cop-dem-glo-90"]
*/
function setup() {
  return { input: ["DEM", "dataMask"], output: { bands: 4 } };
}

// Height in metres, colour: linear between the stops, the end colours beyond them.
const ramp = new ColorRampVisualizer([
  [-12000, 0x000028],
  [-9000, 0x1e005a],
  [-6000, 0x1e1e78],
  [-1000, 0x2831b4],
  [-500, 0x3b3be6],
  [-200, 0x3b50f5],
  [-50, 0x5a54f9],
  [-20, 0x7878eb],
  [-10, 0x9f9fff],
  [0, 0xc7c7c7],
  [10, 0x63383b],
  [30, 0x782d28],
  [50, 0x8b4b28],
  [200, 0xaa5f00],
  [300, 0x78385a],
  [400, 0xd292b4],
  [500, 0x8b6d00],
  [1000, 0x788bb4],
  [3000, 0x9faaef],
  [5000, 0xbdc7f9],
  [7000, 0xdcefff],
  [9000, 0xffffff],
]);

function evaluatePixel(px) {
  if (px.dataMask === 0 || !isFinite(px.DEM)) return [0, 0, 0, 0];
  return ramp.process(px.DEM).concat(1);
}
