// Feature: the simple form (band globals, top-level return), a global `index` shadowed by a
// variable, colorBlend with an underflow colour first (cs__nbr.js).
let index = (B8A - B12) / (B8A + B12);
let low = -0.75;
let high = 0.75;

return colorBlend(index, [low, low, 0, high], [
  [0.9, 0.9, 0.9],
  [0.6, 0.2, 0.1],
  [0.95, 0.95, 0.7],
  [0.1, 0.5, 0.3],
]);
