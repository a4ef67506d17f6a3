//VERSION=3
// Feature: an if/else chain of value ranges with ===, && and early returns; no-data pixels
// transparent (cs__ndgri.js).
function setup() {
  return { input: ["B03", "B11", "dataMask"], output: { bands: 4 } };
}

function evaluatePixel(px) {
  let total = px.B03 + px.B11;
  if (px.dataMask === 0 || total === 0) {
    return [0, 0, 0, 0];
  }
  let value = (px.B03 - px.B11) / total;
  if (value >= 0.1 && value <= 0.6) {
    return [0, 0.3, 1, px.dataMask];
  }
  if (value >= -0.2 && value < 0.1) {
    return [0.2, 0.8, 0.2, px.dataMask];
  }
  return [0.7, 0.5, 0.3, px.dataMask];
}
