//VERSION=3
/*
title = "False color (enhanced visualization) (evalscript)"
description = "The FALSE_COLOR layer of styles/sentinel-1/FALSE_COLOR.toml: where VV / VH > 25 (water) [VV, 8 VV, 0.5 + 3 VV + 2000 VH], elsewhere (land) [3 VV, 1.1 VV + 8.75 VH, 1.75 VH], in linear power."
collections = ["sentinel-1-grd"]
*/
function setup() {
  return { input: ["VV", "VH", "dataMask"], output: { bands: 4 } };
}

function evaluatePixel(px) {
  const vv = px.VV;
  const vh = px.VH;
  if (px.dataMask === 0 || !isFinite(vv) || !isFinite(vh)) return [0, 0, 0, 0];
  // The TOML layer divides the float32 bands in float32 (numexpr), and whole DN put many ratios on
  // 25 itself (VV DN five times VH DN: 2,278 pixels of the IW sample's file), which float32 often
  // rounds to exactly 25 (land) where float64 gives a hair more (water). So this copy rounds the
  // ratio to float32 too (Math.fround) to tell water from land alike; the channels are float64
  // there as here (their constants are).
  if (Math.fround(vv / vh) > 25) return [vv, 8 * vv, 0.5 + 3 * vv + 2000 * vh, 1]; // water
  return [3 * vv, 1.1 * vv + 8.75 * vh, 1.75 * vh, 1]; // land
}
