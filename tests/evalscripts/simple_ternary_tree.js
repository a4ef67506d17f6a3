// Feature: a classification tree of nested ternaries in the simple form, with small helper
// functions and B10, which only Level-1C has (cs__hollstein.js).
function diff(a, b) { return a - b; }
function ratio(a, b) { return a / b; }
var natural = [B04, B03, B02].map((v) => 2.5 * v);
var WATER = [0.05, 0.2, 0.8];
var CIRRUS = [0.9, 0.2, 0.2];
var CLOUD = [0.4, 0.4, 1.0];
var SNOW = [1.0, 0.9, 0.5];

return (B03 < 0.3)
  ? (B8A < 0.17)
    ? (diff(B03, B07) < 0.03) ? natural : ((diff(B09, B11) < 0.02) ? WATER : natural)
    : (ratio(B02, B10) < 15) ? ((ratio(B02, B09) < 0.8) ? natural : CIRRUS) : natural
  : (ratio(B05, B11) < 4.3)
    ? (diff(B11, B10) < 0.25) ? ((diff(B06, B07) < -0.02) ? CLOUD : CIRRUS) : natural
    : (B03 < 0.5) ? natural : SNOW;
