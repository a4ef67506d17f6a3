//VERSION=3
// Feature: HighlightCompressVisualizerSingle, JAVA_DOUBLE_MAX_VAL, an input object and setup()
// defined after evaluatePixel (cs__psri.js).
let lowest = -0.3;
let highest = 0.5;
let stretch = new HighlightCompressVisualizerSingle(lowest, highest);

function evaluatePixel(px) {
  let value = px.B05 > 0 ? (px.B04 - px.B02) / px.B05 : JAVA_DOUBLE_MAX_VAL;
  return stretch.process(value);
}

function setup() {
  return {
    input: [{ bands: ["B02", "B04", "B05"] }],
    output: { bands: 1 },
  };
}
