//VERSION=3
// Feature: index() and a ColorRampVisualizer over hex colours, concat(dataMask) (cs__ndvi.js).
function setup() {
  return { input: ["B03", "B8A", "dataMask"], output: { bands: 4 } };
}

const stops = [
  [-0.6, 0x3040a0],
  [-0.1, 0xc8d2f0],
  [0.0, 0xf5f0dc],
  [0.2, 0xb4c864],
  [0.45, 0x509628],
  [0.8, 0x0a4605],
];
const greenness = new ColorRampVisualizer(stops);

function evaluatePixel(px) {
  const value = index(px.B8A, px.B03);
  return greenness.process(value).concat(px.dataMask);
}
