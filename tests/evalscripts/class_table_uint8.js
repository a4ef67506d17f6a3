//VERSION=3
// Feature: an object as a lookup table keyed by the SCL class, UINT8 output, alpha dataMask * 255
// (cs__scene-classification.js).
function setup() {
  return { input: ["SCL", "dataMask"], output: { bands: 4, sampleType: "UINT8" } };
}

const palette = {
  0: [10, 10, 10],
  3: [90, 60, 20],
  4: [20, 150, 40],
  5: [240, 220, 100],
  6: [30, 30, 230],
  8: [180, 180, 180],
  9: [250, 250, 250],
  10: [110, 190, 240],
  11: [240, 160, 240],
};

function evaluatePixel(px) {
  const colour = palette[px.SCL] || [255, 0, 255];
  return colour.concat(px.dataMask * 255);
}
