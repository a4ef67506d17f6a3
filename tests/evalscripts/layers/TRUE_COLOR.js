//VERSION=3
// The TRUE_COLOR layer of styles/TRUE_COLOR.toml: B04, B03, B02 with EO Browser's highlight compression over 0..0.4.
function setup() {
  return { input: ["B04", "B03", "B02", "dataMask"], output: { bands: 4 } };
}

const stretch = new HighlightCompressVisualizer(0, 0.4);

function evaluatePixel(px) {
  return stretch.processList([px.B04, px.B03, px.B02, px.dataMask]);
}
