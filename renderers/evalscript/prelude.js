// eo-tiler's evalscript library for the exact (V8) path, written from the rules in
// docs/evalscripts.md. renderers/evalscript/vector.py implements the same functions over
// numpy arrays; the differential tests hold the two to the same numbers.

// Globals a script could use to leave its deadline (timers, workers' atomics, weak-reference
// callbacks run after the call returns) or to reach compiled code.
// Some are not configurable (the embedder's timers): those are set to undefined instead.
["setTimeout", "clearTimeout", "__timer_manager", "Atomics", "SharedArrayBuffer", "FinalizationRegistry",
 "WeakRef", "WebAssembly", "Promise"].forEach(function (name) {
  if (!delete globalThis[name]) globalThis[name] = undefined;
});

var JAVA_DOUBLE_MAX_VAL = 1.7976931348623157e308;
var SampleType = { AUTO: "AUTO", UINT8: "UINT8", INT8: "INT8", UINT16: "UINT16", INT16: "INT16", FLOAT32: "FLOAT32" };
var Mosaicking = { SIMPLE: "SIMPLE", ORBIT: "ORBIT", TILE: "TILE" };

var blueRed = [[1.0, 0x000080], [0.875, 0x0000ff], [0.625, 0x00ffff], [0.375, 0xffff00], [0.125, 0xff0000], [0.0, 0x800000]];
var redTemperature = [[1.0, 0x000000], [0.525, 0xae0000], [0.3, 0xff6e00], [0.25, 0xff8600], [0.0, 0xffffff]];
var greenWhite = [[1.0, 0x000000], [0.6, 0x006600], [0.3, 0x80b300], [0.0, 0xffffff]];

function index(x, y) {
  return x + y == 0 ? 0 : (x - y) / (x + y);
}

function inverse(x) {
  return x == 0 ? JAVA_DOUBLE_MAX_VAL : 1 / x;
}

function combine(color1, color2, alpha) {
  return color1.map(function (c, i) { return c * alpha + color2[i] * (1 - alpha); });
}

function int2rgb(value) {
  return [(value >> 16) & 0xff, (value >> 8) & 0xff, value & 0xff];
}

function rgb2int(rgb) {
  return (rgb[0] << 16) + (rgb[1] << 8) + rgb[2];
}

function normalizeRGB(rgb) {
  return rgb.map(function (c) { return c / 255; });
}

function __lerp(a, b, t) {
  return a + (b - a) * t;
}

// valueInterpolate and colorBlend: limits are (from, to] intervals; `values` may hold one
// entry more than `limits` (an overflow value, taken above the last limit). NaN compares
// false everywhere and so takes the last value.
function valueInterpolate(value, limits, values) {
  if (limits === undefined) return value;
  if (value <= limits[0]) return __copy(values[0]);
  for (var i = 1; i < limits.length; i++) {
    if (value <= limits[i]) {
      var t = (value - limits[i - 1]) / (limits[i] - limits[i - 1]);
      var a = values[i - 1], b = values[i];
      if (Array.isArray(a)) return a.map(function (c, k) { return __lerp(c, b[k], t); });
      return __lerp(a, b, t);
    }
  }
  return __copy(values[values.length - 1]);
}

function colorBlend(value, limits, colors) {
  return valueInterpolate(value, limits, colors);
}

function valueMap(value, limits, values) {
  for (var i = 0; i < limits.length; i++) {
    if (limits[i] >= value) return __copy(values[i]);
  }
  return __copy(values[values.length - 1]);
}

function __copy(value) {
  return Array.isArray(value) ? value.slice() : value;
}

// A colour as given: 0xRRGGBB, or [r, g, b] in 0..1; returned on the 0..255 scale.
function __rgb255(colour) {
  if (Array.isArray(colour)) return [colour[0] * 255, colour[1] * 255, colour[2] * 255];
  return int2rgb(colour);
}

function __HighlightCompress(minValue, maxValue, gain, offset, gamma, compress) {
  this.minValue = minValue === undefined ? 0 : minValue;
  this.maxValue = maxValue === undefined ? 1 : maxValue;
  this.gain = gain === undefined ? 1 : gain;
  this.offset = offset === undefined ? 0 : offset;
  this.gamma = gamma === undefined ? 1 : gamma;
  this.compress = compress && this.maxValue > 0 && this.maxValue < 1;
}
__HighlightCompress.prototype.__value = function (val) {
  var v = (val - this.minValue) / (this.maxValue - this.minValue);
  v = this.gain * v + this.offset;
  if (this.gamma != 1) v = Math.pow(Math.max(v, 0), this.gamma);
  if (this.compress && v >= 0.92) v = 0.92 + (v - 0.92) * (0.08 / 1.08);
  return Math.max(0, Math.min(1, v));
};
__HighlightCompress.prototype.processList = function (values) {
  var out = new Array(values.length);
  for (var i = 0; i < values.length; i++) out[i] = this.process(values[i], i);
  return out;
};

function HighlightCompressVisualizer(minValue, maxValue, gain, offset, gamma) {
  __HighlightCompress.call(this, minValue, maxValue, gain, offset, gamma, true);
}
HighlightCompressVisualizer.prototype = Object.create(__HighlightCompress.prototype);
HighlightCompressVisualizer.prototype.process = function (val) { return this.__value(val); };

function HighlightCompressVisualizerSingle(minValue, maxValue, gain, offset, gamma) {
  __HighlightCompress.call(this, minValue, maxValue, gain, offset, gamma, true);
}
HighlightCompressVisualizerSingle.prototype = Object.create(__HighlightCompress.prototype);
HighlightCompressVisualizerSingle.prototype.process = function (val) { return [this.__value(val)]; };

function DefaultVisualizer(minValue, maxValue, gain, offset, gamma) {
  __HighlightCompress.call(this, minValue, maxValue, gain, offset, gamma, false);
}
DefaultVisualizer.prototype = Object.create(__HighlightCompress.prototype);
DefaultVisualizer.prototype.process = function (val) { return this.__value(val); };

function Identity() {}
Identity.prototype.process = function (val) { return val; };
Identity.prototype.processList = function (values) { return values.slice(); };

// Stops moved so the first given lands on minVal and the last on maxVal (the others
// linearly), then sorted by value; colours interpolated on the 0..255 scale and rounded.
function ColorRampVisualizer(ramps, minVal, maxVal) {
  var first = ramps[0][0], last = ramps[ramps.length - 1][0];
  var stops = ramps.map(function (stop) {
    var value = stop[0];
    if (minVal !== undefined && maxVal !== undefined && ramps.length > 1) {
      value = minVal + ((stop[0] - first) / (last - first)) * (maxVal - minVal);
    }
    return [value, __rgb255(stop[1])];
  });
  stops.sort(function (a, b) { return a[0] - b[0]; });
  this.values = stops.map(function (stop) { return stop[0]; });
  this.colors = stops.map(function (stop) { return stop[1]; });
}
ColorRampVisualizer.prototype.process = function (value) {
  var values = this.values, colors = this.colors, n = values.length;
  var c;
  if (value <= values[0]) c = colors[0];
  else if (!(value < values[n - 1])) c = colors[n - 1];
  else {
    var i = 1;
    while (!(value < values[i])) i++;
    var t = (value - values[i - 1]) / (values[i] - values[i - 1]);
    var a = colors[i - 1], b = colors[i];
    c = [__lerp(a[0], b[0], t), __lerp(a[1], b[1], t), __lerp(a[2], b[2], t)];
  }
  return [Math.round(c[0]) / 255, Math.round(c[1]) / 255, Math.round(c[2]) / 255];
};
ColorRampVisualizer.prototype.processList = function (values) {
  var out = new Array(values.length);
  for (var i = 0; i < values.length; i++) out[i] = this.process(values[i]);
  return out;
};
ColorRampVisualizer.prototype.inverse = function () {
  var inverted = Object.create(ColorRampVisualizer.prototype);
  inverted.values = this.values.slice();
  inverted.colors = this.colors.slice().reverse();
  return inverted;
};
ColorRampVisualizer.createRedTemperature = function (minVal, maxVal) { return new ColorRampVisualizer(redTemperature, minVal, maxVal); };
ColorRampVisualizer.createWhiteGreen = function (minVal, maxVal) { return new ColorRampVisualizer(greenWhite, minVal, maxVal); };
ColorRampVisualizer.createBlueRed = function (minVal, maxVal) { return new ColorRampVisualizer(blueRed, minVal, maxVal); };

// The older name: the same ramp over a range that defaults to [0, 1].
function ColorGradientVisualizer(valColPairs, minVal, maxVal) {
  ColorRampVisualizer.call(this, valColPairs, minVal === undefined ? 0 : minVal, maxVal === undefined ? 1 : maxVal);
}
ColorGradientVisualizer.prototype = Object.create(ColorRampVisualizer.prototype);
ColorGradientVisualizer.createRedTemperature = function (minVal, maxVal) { return new ColorGradientVisualizer(redTemperature, minVal, maxVal); };
ColorGradientVisualizer.createWhiteGreen = function (minVal, maxVal) { return new ColorGradientVisualizer(greenWhite, minVal, maxVal); };
ColorGradientVisualizer.createBlueRed = function (minVal, maxVal) { return new ColorGradientVisualizer(blueRed, minVal, maxVal); };

// Discrete: the colour of the last stop at or below the value, else the first colour.
function ColorMapVisualizer(valColPairs) {
  this.values = valColPairs.map(function (pair) { return pair[0]; });
  this.colors = valColPairs.map(function (pair) {
    return Array.isArray(pair[1]) ? pair[1].slice() : normalizeRGB(int2rgb(pair[1]));
  });
  this.sorted = this.values.every(function (v, i, all) { return i < 2 || all[i - 1] <= v; });
}
ColorMapVisualizer.prototype.process = function (value) {
  var values = this.values, i;
  if (this.sorted) {
    // Stops in order from the second on: the same answer by bisection.
    var low = 1, high = values.length;
    while (low < high) {
      var middle = (low + high) >> 1;
      if (value >= values[middle]) low = middle + 1;
      else high = middle;
    }
    i = low - 1;
  } else {
    for (i = values.length - 1; i > 0 && !(value >= values[i]); i--);
  }
  return this.colors[i].slice();
};
