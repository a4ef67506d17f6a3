//VERSION=3
/*
title = "VV decibel gamma0 (evalscript)"
description = "The VV_DB layer of styles/sentinel-1/VV_DB.toml: VV in linear power as 10 log10(VV) decibels, -20 dB black to 0 dB white."
collections = ["sentinel-1-grd"]
*/
function setup() {
  return { input: ["VV", "dataMask"], output: { bands: 4 } };
}

function evaluatePixel(px) {
  const decibels = 10 * Math.log10(px.VV);
  if (px.dataMask === 0 || !isFinite(decibels)) return [0, 0, 0, 0];
  const grey = (decibels + 20) / 20; // -20..0 dB to 0..1; the output clamps the rest
  return [grey, grey, grey, 1];
}
