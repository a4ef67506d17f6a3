//VERSION=3
// Feature: ColorGradientVisualizer.createBlueRed, four outputs returned as an object, process()
// called at top level, a ternary choosing between arrays (cs__plastic_greenhouse.js).
function setup() {
  return {
    input: ["B02", "B03", "B04", "B8A", "dataMask"],
    output: [
      { id: "default", bands: 3 },
      { id: "index", bands: 1, sampleType: "FLOAT32" },
      { id: "eobrowserStats", bands: 1, sampleType: "FLOAT32" },
      { id: "dataMask", bands: 1 },
    ],
  };
}

const lowest = 0;
const highest = 1.2;
const cut = 0.15;
const ramp = ColorGradientVisualizer.createBlueRed(lowest, highest);
ramp.process(0.2);
ramp.process(0.9);

function evaluatePixel(px) {
  let score = px.B02 / (1 - (px.B02 + px.B03 + px.B8A) / 3);
  let colour = ramp.process(score);
  let natural = [2.5 * px.B04, 2.5 * px.B03, 2.5 * px.B02];
  return {
    default: score > cut ? [colour[0], colour[1], colour[2]] : natural,
    index: [score],
    eobrowserStats: [score],
    dataMask: [px.dataMask],
  };
}
