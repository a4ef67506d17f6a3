//VERSION=3
/*
title = "HH linear gamma0 (evalscript)"
description = "The HH_LINEAR layer of styles/sentinel-1/HH_LINEAR.toml: HH in linear power, 0 black to 0.5 white."
collections = ["sentinel-1-grd"]
*/
function setup() {
  return { input: ["HH", "dataMask"], output: { bands: 4 } };
}

function evaluatePixel(px) {
  if (px.dataMask === 0 || !isFinite(px.HH)) return [0, 0, 0, 0];
  const grey = px.HH / 0.5; // 0..0.5 to 0..1; the output clamps the rest
  return [grey, grey, grey, 1];
}
