//VERSION=3
// The FALSE_COLOR_URBAN layer of styles/FALSE_COLOR_URBAN.toml: B12, B11, B04 with EO Browser's highlight compression over 0..0.4.
function setup() {
  return { input: ["B12", "B11", "B04", "dataMask"], output: { bands: 4 } };
}

const stretch = new HighlightCompressVisualizer(0, 0.4);

function evaluatePixel(px) {
  return stretch.processList([px.B12, px.B11, px.B04, px.dataMask]);
}
