//VERSION=3
// True colour as EO Browser draws it: B04, B03, B02 through its highlight compression over 0..0.4,
// dataMask as the alpha band (written for the bench; the same picture as styles/TRUE_COLOR.toml).
const maxReflectance = 0.4;
const visualizer = new HighlightCompressVisualizer(0, maxReflectance);

function setup() {
  return { input: ["B04", "B03", "B02", "dataMask"], output: { bands: 4 } };
}

function evaluatePixel(samples) {
  return visualizer.processList([samples.B04, samples.B03, samples.B02, samples.dataMask]);
}
