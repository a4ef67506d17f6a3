//VERSION=3
// The MOISTURE_INDEX layer of styles/MOISTURE_INDEX.toml: a six-colour ramp from dry red to wet blue.
function setup() {
  return { input: ["B8A", "B11", "dataMask"], output: { bands: 4 } };
}

const ramp = new ColorRampVisualizer([
  [-0.8, 0x800000],
  [-0.24, 0xff0000],
  [-0.032, 0xffff00],
  [0.032, 0x00ffff],
  [0.24, 0x0000ff],
  [0.8, 0x000080],
]);

function evaluatePixel(px) {
  const moisture = (px.B8A - px.B11) / (px.B8A + px.B11);
  if (px.dataMask === 0 || !isFinite(moisture)) return [0, 0, 0, 0];
  return ramp.process(moisture).concat(1);
}
