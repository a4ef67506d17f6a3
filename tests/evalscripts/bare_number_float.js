//VERSION=3
// Feature: one FLOAT32 band, evaluatePixel returns a bare number (cs__ndvi__raw.js).
function setup() {
  return {
    input: ["B8A", "B04"],
    output: { bands: 1, sampleType: "FLOAT32" },
  };
}

function evaluatePixel(px) {
  return index(px.B8A, px.B04);
}
