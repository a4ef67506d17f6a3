//VERSION=3
// Feature: user functions calling each other, constants between them, an arrow function
// defined after evaluatePixel, a Math.pow tone curve (cs__l2a_optimized.js).
function setup() {
  return { input: ["B04", "B03", "B02", "dataMask"], output: { bands: 4 } };
}

const peak = 2.5;
const middle = 0.15;
const saturation = 1.15;
const curve = 1.7;

function evaluatePixel(px) {
  const linear = saturate(shape(px.B04), shape(px.B03), shape(px.B02));
  return [encode(linear[0]), encode(linear[1]), encode(linear[2]), px.dataMask];
}

function shape(v) {
  return lift(contrast(v, middle, 1, peak));
}

const lift0 = 0.02;
const lift0Pow = Math.pow(lift0, curve);
const liftRange = Math.pow(1 + lift0, curve) - lift0Pow;

function lift(b) {
  return (Math.pow(b + lift0, curve) - lift0Pow) / liftRange;
}

function saturate(r, g, b) {
  const mean = ((r + g + b) / 3.0) * (1 - saturation);
  return [bound(mean + r * saturation), bound(mean + g * saturation), bound(mean + b * saturation)];
}

function bound(s) {
  return s < 0 ? 0 : s > 1 ? 1 : s;
}

function contrast(a, tx, ty, maxC) {
  var ar = bound(a / maxC);
  return (ar * (ar * (tx / maxC + ty - 1) - ty)) / (ar * ((2 * tx) / maxC - 1) - tx / maxC);
}

const encode = (c) => (c <= 0.0031308 ? 12.92 * c : 1.055 * Math.pow(c, 0.41666666666) - 0.055);
