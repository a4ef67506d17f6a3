// Feature: if/else in the simple form, each branch returning colorBlend, Math.pow (cs__ndwi.js).
var moisture = (B8A - B11) / (B8A + B11);

if (moisture < 0) {
  return colorBlend(-moisture, [0, 1], [[1, 1, 1], [0.6, 0.3, 0]]);
} else {
  return colorBlend(Math.pow(moisture, 0.5), [0, 1], [[1, 1, 1], [0, 0.2, 0.9]]);
}
