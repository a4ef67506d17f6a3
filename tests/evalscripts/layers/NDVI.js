//VERSION=3
// The NDVI layer of styles/NDVI.toml: EO Browser's stepped palette, a colour per range of values.
function setup() {
  return { input: ["B04", "B08", "dataMask"], output: { bands: 4 } };
}

// Each colour holds from its value up to the next one.
const steps = [
  [-Infinity, [0.05, 0.05, 0.05]],
  [-0.5, [0.75, 0.75, 0.75]],
  [-0.2, [0.86, 0.86, 0.86]],
  [-0.1, [0.92, 0.92, 0.92]],
  [0.0, [1.0, 0.98, 0.8]],
  [0.025, [0.93, 0.91, 0.71]],
  [0.05, [0.87, 0.85, 0.61]],
  [0.075, [0.8, 0.78, 0.51]],
  [0.1, [0.74, 0.72, 0.42]],
  [0.125, [0.69, 0.76, 0.38]],
  [0.15, [0.64, 0.8, 0.35]],
  [0.175, [0.57, 0.75, 0.32]],
  [0.2, [0.5, 0.7, 0.28]],
  [0.25, [0.44, 0.64, 0.25]],
  [0.3, [0.38, 0.59, 0.21]],
  [0.35, [0.31, 0.54, 0.18]],
  [0.4, [0.25, 0.49, 0.14]],
  [0.45, [0.19, 0.43, 0.11]],
  [0.5, [0.13, 0.38, 0.07]],
  [0.55, [0.06, 0.33, 0.04]],
  [0.6, [0.0, 0.27, 0.0]],
];
// The TOML layer computes in float32 (numexpr over float32 bands) and integer DNs put many
// values exactly on a bound, so this copy rounds to float32 too (Math.fround) to class them alike.
const palette = new ColorMapVisualizer(steps.map((step) => [Math.fround(step[0]), step[1]]));

function evaluatePixel(px) {
  const ndvi = Math.fround(Math.fround(px.B08 - px.B04) / Math.fround(px.B08 + px.B04));
  if (px.dataMask === 0 || !isFinite(ndvi)) return [0, 0, 0, 0];
  return palette.process(ndvi).concat(1);
}
