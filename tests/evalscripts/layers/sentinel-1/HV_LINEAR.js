//VERSION=3
/*
title = "HV linear gamma0 (evalscript)"
description = "The HV_LINEAR layer of styles/sentinel-1/HV_LINEAR.toml: HV in linear power, 0 black to 0.5 white."
collections = ["sentinel-1-grd"]
*/
function setup() {
  return { input: ["HV", "dataMask"], output: { bands: 4 } };
}

function evaluatePixel(px) {
  if (px.dataMask === 0 || !isFinite(px.HV)) return [0, 0, 0, 0];
  const grey = px.HV / 0.5; // 0..0.5 to 0..1; the output clamps the rest
  return [grey, grey, grey, 1];
}
