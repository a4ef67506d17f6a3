//VERSION=3
// The bench's true colour with a pixel counter kept outside evaluatePixel: a global changed from pixel
// to pixel must run in row order, which only the exact path (V8) does.
const visualizer = new HighlightCompressVisualizer(0, 0.4);
let pixels = 0;

function setup() {
  return { input: ["B04", "B03", "B02", "dataMask"], output: { bands: 4 } };
}

function evaluatePixel(samples) {
  pixels += 1;
  return visualizer.processList([samples.B04, samples.B03, samples.B02, samples.dataMask]);
}
