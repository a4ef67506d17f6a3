//VERSION=3
// The SCL layer of styles/SCL.toml: one colour per Sen2Cor class, other values transparent.
function setup() {
  return { input: ["SCL", "dataMask"], output: { bands: 4, sampleType: "UINT8" } };
}

const classes = {
  0: [0, 0, 0],
  1: [255, 0, 0],
  2: [47, 47, 47],
  3: [100, 50, 0],
  4: [0, 160, 0],
  5: [255, 230, 90],
  6: [0, 0, 255],
  7: [128, 128, 128],
  8: [192, 192, 192],
  9: [255, 255, 255],
  10: [100, 200, 255],
  11: [255, 150, 255],
};

function evaluatePixel(px) {
  const colour = classes[px.SCL];
  if (px.dataMask === 0 || colour === undefined) return [0, 0, 0, 0];
  return colour.concat(255);
}
