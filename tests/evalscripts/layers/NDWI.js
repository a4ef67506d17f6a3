//VERSION=3
// The NDWI layer of styles/NDWI.toml: white to green below 0, white to blue on the fourth root above.
function setup() {
  return { input: ["B03", "B08", "dataMask"], output: { bands: 4 } };
}

const ramp = new ColorRampVisualizer([
  [-1, 0x008000],
  [0, 0xffffff],
  [1, 0x0000cc],
]);

function evaluatePixel(px) {
  const ndwi = (px.B03 - px.B08) / (px.B03 + px.B08);
  if (px.dataMask === 0 || !isFinite(ndwi)) return [0, 0, 0, 0];
  const shown = ndwi < 0 ? ndwi : Math.sqrt(Math.sqrt(ndwi));
  return ramp.process(shown).concat(1);
}
