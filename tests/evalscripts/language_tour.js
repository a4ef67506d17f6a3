//VERSION=3
// The language the fast path runs, each construct once, over per-pixel values: loops, switch,
// closures, constructors, array methods, operators. Both paths must give the same numbers.
function setup() {
  return { input: ["B02", "B03", "B04", "dataMask"], output: { bands: 16, sampleType: "FLOAT32" } };
}

const weights = [0.5, 0.25, 0.125];
const names = ["B02", "B03", "B04"];

function Scaler(factor) {
  this.factor = factor;
}
Scaler.prototype.apply = function (v) {
  return v * this.factor;
};
const double = new Scaler(2);

function sum(...values) {
  return values.reduce((total, v) => total + v, 0);
}

function clampTo(v, low = 0, high = 1) {
  return Math.min(high, Math.max(low, v));
}

const table = { bright: 1, dark: 0 };
let label = "band";
label += "s";

function evaluatePixel(px) {
  // for with let (a closure per iteration), continue and break
  const readers = [];
  for (let i = 0; i < 3; i++) {
    if (i === 1) continue;
    readers.push(() => px[names[i]] * weights[i]);
    if (i > 5) break;
  }
  let mixed = 0;
  readers.forEach((read) => {
    mixed += read();
  });

  // while and do...while with uniform conditions
  let steps = 0;
  let k = 0;
  while (k < 4) {
    k++;
    steps += k;
  }
  do {
    steps -= 1;
  } while (steps > 8);

  // for...of, switch on a uniform value, string building
  let picked = 0;
  for (const name of names) {
    switch (name) {
      case "B02":
        picked += px.B02;
        break;
      case "B03":
      case "B04":
        picked -= px[name] / 2;
        break;
      default:
        picked = NaN;
    }
  }
  const key = px.B02 > 0.12 ? "bright" : "dark";
  const fromTable = table[key];

  // per-pixel branches, logical operators and their values
  let grade = px.B04 > 0.3 ? 3 : px.B04 > 0.2 ? 2 : 1;
  grade *= px.dataMask;
  const either = (px.B03 > 0.25 && px.B02) || -1;
  const flags = (px.B02 > 0.1 ? 1 : 0) | (px.B03 > 0.2 ? 2 : 0) | (px.B04 > 0.3 ? 4 : 0);
  const shifted = (flags << 3) >>> 1;

  // arrays and their methods
  const values = [px.B02, px.B03, px.B04].map((v, i) => v + i);
  const total = sum(...values);
  const chosen = values.filter((v, i) => i !== 1).slice(0, 2);
  const positive = values.every((v) => v > 0) && values.some((v) => v > 2);
  const copy = values.concat([7]).reverse();
  copy.pop();
  let counter = 0;
  counter++;
  ++counter;
  counter--;

  return [
    mixed,
    steps,
    picked,
    fromTable,
    grade,
    either,
    shifted,
    total,
    chosen[1],
    positive,
    copy[0],
    double.apply(px.B02),
    clampTo(px.B04 * 4),
    Math.round(px.B03 * 100) / 100 + Math.trunc(-px.B02 * 10) + Math.sign(px.B04 - 0.2),
    (typeof px.B02 === "number") + ("B02" in px) + label.length + counter + names.indexOf("B04") + names.includes("B99"),
    Math.sqrt(Math.abs(px.B03 - px.B04)) + Math.floor(px.B02 * 7) % 3 + Math.ceil(px.B04 * 3),
  ];
}
