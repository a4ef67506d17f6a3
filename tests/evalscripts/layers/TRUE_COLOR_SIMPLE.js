//VERSION=3
// The TRUE_COLOR_SIMPLE layer of styles/TRUE_COLOR_SIMPLE.toml: 2.5 x reflectance, clipped.
function setup() {
  return { input: ["B02", "B03", "B04", "dataMask"], output: { bands: 4 } };
}

function evaluatePixel(px) {
  return [2.5 * px.B04, 2.5 * px.B03, 2.5 * px.B02, px.dataMask];
}
