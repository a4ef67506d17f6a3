//VERSION=3
/*
title = "SAR urban (evalscript)"
description = "The SAR_URBAN layer of styles/sentinel-1/SAR_URBAN.toml: [5.5 VH > 0.5, VV, 8 VH] in linear power; built-up areas, bright in VH, show red."
collections = ["sentinel-1-grd"]
*/
function setup() {
  return { input: ["VV", "VH", "dataMask"], output: { bands: 4 } };
}

function evaluatePixel(px) {
  if (px.dataMask === 0 || !isFinite(px.VV) || !isFinite(px.VH)) return [0, 0, 0, 0];
  const bright = 5.5 * px.VH > 0.5 ? 1 : 0;
  return [bright, px.VV, 8 * px.VH, 1];
}
