//VERSION=3
// The SWIR layer of styles/SWIR.toml: B12, B8A, B04 with EO Browser's highlight compression over 0..0.4.
function setup() {
  return { input: ["B12", "B8A", "B04", "dataMask"], output: { bands: 4 } };
}

const stretch = new HighlightCompressVisualizer(0, 0.4);

function evaluatePixel(px) {
  return stretch.processList([px.B12, px.B8A, px.B04, px.dataMask]);
}
