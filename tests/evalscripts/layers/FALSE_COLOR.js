//VERSION=3
// The FALSE_COLOR layer of styles/FALSE_COLOR.toml: B08, B04, B03 with EO Browser's highlight compression over 0..0.4.
function setup() {
  return { input: ["B08", "B04", "B03", "dataMask"], output: { bands: 4 } };
}

const stretch = new HighlightCompressVisualizer(0, 0.4);

function evaluatePixel(px) {
  return stretch.processList([px.B08, px.B04, px.B03, px.dataMask]);
}
