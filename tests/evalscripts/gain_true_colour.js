//VERSION=3
// Feature: true colour as gain x reflectance with dataMask as the alpha band (cs__true_color.js).
function setup() {
  return { input: ["B02", "B03", "B04", "dataMask"], output: { bands: 4 } };
}

function evaluatePixel(px) {
  const brighten = 3.1;
  return [brighten * px.B04, brighten * px.B03, brighten * px.B02, px.dataMask];
}
