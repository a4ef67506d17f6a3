// Feature: the simple form with its own index() (no zero-sum guard), helper functions,
// early returns inside if, Math.max/min/sqrt and an arrow function in map
// (cs__cby_cloud_detection.js).
function index(a, b) {
  return (a - b) / (a + b);
}

function unit(x) {
  return Math.min(1, Math.max(0, x));
}

let blueness = index(B02, B04);
let brightness = (B02 - 0.15) / 0.25;

if (brightness > 1) {
  var extra = 0.4 * (brightness - 1);
  return [0.6 * unit(B04), 0.6 * unit(B03), 0.6 * unit(B02) + extra];
}

if (brightness > 0 && blueness > 0) {
  var glow = 4 * Math.sqrt(brightness * blueness);
  return [0.6 * unit(B04) + glow, 0.6 * unit(B03), 0.6 * unit(B02)];
}

return [B04, B03, B02].map((v) => 2.8 * v);
