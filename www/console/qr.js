// A small QR code encoder for the console: byte mode (UTF-8), error correction level L or M,
// versions 1-20 (up to 858 bytes at L), the mask chosen by the specification's penalty rules.
// Exposes MlinkQR.encode(text, level) -> {version, level, mask, size, modules} and
// MlinkQR.svg(text, label) -> an <svg> element (4-module quiet zone, one path of dark runs).
(function (root) {
  "use strict";
  // Per version 1-20: error correction codewords per block, and blocks (ISO/IEC 18004, table 9).
  var TABLE = {
    L: {
      ecc: [7, 10, 15, 20, 26, 18, 20, 24, 30, 18, 20, 24, 26, 30, 22, 24, 28, 30, 28, 28],
      blocks: [1, 1, 1, 1, 1, 2, 2, 2, 2, 4, 4, 4, 4, 4, 6, 6, 6, 6, 7, 8],
      format: 1
    },
    M: {
      ecc: [10, 16, 26, 18, 24, 16, 18, 22, 22, 26, 30, 22, 22, 24, 24, 28, 28, 26, 26, 26],
      blocks: [1, 1, 1, 2, 2, 4, 4, 4, 5, 5, 5, 8, 9, 9, 10, 10, 11, 13, 14, 16],
      format: 0
    }
  };
  var MAX_VERSION = 20;

  function utf8(text) {
    return Array.from(new TextEncoder().encode(text));
  }

  // Modules left for data and error correction once the function patterns are drawn.
  function rawModules(v) {
    var r = (16 * v + 128) * v + 64;
    if (v >= 2) {
      var n = Math.floor(v / 7) + 2;
      r -= (25 * n - 10) * n - 55;
      if (v >= 7) r -= 36;
    }
    return r;
  }

  function dataCodewords(v, t) {
    return Math.floor(rawModules(v) / 8) - t.ecc[v - 1] * t.blocks[v - 1];
  }

  // GF(256) with the QR polynomial x^8 + x^4 + x^3 + x^2 + 1.
  function gfMul(x, y) {
    var z = 0;
    for (var i = 7; i >= 0; i--) {
      z = (z << 1) ^ ((z >>> 7) * 0x11d);
      z ^= ((y >>> i) & 1) * x;
    }
    return z;
  }

  function rsDivisor(degree) {
    var r = [];
    for (var i = 0; i < degree - 1; i++) r.push(0);
    r.push(1);
    var rootValue = 1;
    for (i = 0; i < degree; i++) {
      for (var j = 0; j < r.length; j++) {
        r[j] = gfMul(r[j], rootValue);
        if (j + 1 < r.length) r[j] ^= r[j + 1];
      }
      rootValue = gfMul(rootValue, 2);
    }
    return r;
  }

  function rsRemainder(data, divisor) {
    var r = divisor.map(function () { return 0; });
    data.forEach(function (b) {
      var factor = b ^ r.shift();
      r.push(0);
      divisor.forEach(function (d, i) { r[i] ^= gfMul(d, factor); });
    });
    return r;
  }

  // Data codewords -> blocks with their error correction, interleaved.
  function withErrorCorrection(data, v, t) {
    var numBlocks = t.blocks[v - 1];
    var eccLen = t.ecc[v - 1];
    var raw = Math.floor(rawModules(v) / 8);
    var numShort = numBlocks - (raw % numBlocks);
    var shortLen = Math.floor(raw / numBlocks);
    var divisor = rsDivisor(eccLen);
    var blocks = [];
    for (var i = 0, k = 0; i < numBlocks; i++) {
      var len = shortLen - eccLen + (i < numShort ? 0 : 1);
      var dat = data.slice(k, k + len);
      k += len;
      blocks.push({ data: dat, ecc: rsRemainder(dat, divisor) });
    }
    var out = [];
    for (i = 0; i <= shortLen - eccLen; i++) {
      blocks.forEach(function (b) { if (i < b.data.length) out.push(b.data[i]); });
    }
    for (i = 0; i < eccLen; i++) {
      blocks.forEach(function (b) { out.push(b.ecc[i]); });
    }
    return out;
  }

  function alignmentPositions(v, size) {
    if (v === 1) return [];
    var n = Math.floor(v / 7) + 2;
    var step = Math.ceil((v * 4 + 4) / (n * 2 - 2)) * 2;
    var result = [6];
    for (var pos = size - 7; result.length < n; pos -= step) result.splice(1, 0, pos);
    return result;
  }

  var MASKS = [
    function (x, y) { return (x + y) % 2 === 0; },
    function (x, y) { return y % 2 === 0; },
    function (x) { return x % 3 === 0; },
    function (x, y) { return (x + y) % 3 === 0; },
    function (x, y) { return (Math.floor(x / 3) + Math.floor(y / 2)) % 2 === 0; },
    function (x, y) { return ((x * y) % 2) + ((x * y) % 3) === 0; },
    function (x, y) { return (((x * y) % 2) + ((x * y) % 3)) % 2 === 0; },
    function (x, y) { return (((x + y) % 2) + ((x * y) % 3)) % 2 === 0; }
  ];

  function Matrix(v) {
    this.size = v * 4 + 17;
    this.m = [];
    this.fn = [];
    for (var y = 0; y < this.size; y++) {
      this.m.push(new Array(this.size).fill(false));
      this.fn.push(new Array(this.size).fill(false));
    }
  }
  Matrix.prototype.set = function (x, y, dark) {
    if (x < 0 || y < 0 || x >= this.size || y >= this.size) return;
    this.m[y][x] = dark;
    this.fn[y][x] = true;
  };

  function drawFunctionPatterns(mx, v) {
    var size = mx.size;
    for (var i = 0; i < size; i++) {
      mx.set(6, i, i % 2 === 0);
      mx.set(i, 6, i % 2 === 0);
    }
    [[3, 3], [size - 4, 3], [3, size - 4]].forEach(function (c) {
      for (var dy = -4; dy <= 4; dy++) {
        for (var dx = -4; dx <= 4; dx++) {
          var d = Math.max(Math.abs(dx), Math.abs(dy));
          mx.set(c[0] + dx, c[1] + dy, d !== 2 && d !== 4);
        }
      }
    });
    var pos = alignmentPositions(v, size);
    var n = pos.length;
    for (var a = 0; a < n; a++) {
      for (var b = 0; b < n; b++) {
        if ((a === 0 && b === 0) || (a === 0 && b === n - 1) || (a === n - 1 && b === 0)) continue;
        for (var dy2 = -2; dy2 <= 2; dy2++) {
          for (var dx2 = -2; dx2 <= 2; dx2++) {
            mx.set(pos[a] + dx2, pos[b] + dy2, Math.max(Math.abs(dx2), Math.abs(dy2)) !== 1);
          }
        }
      }
    }
    drawFormat(mx, 0, 0);
    if (v >= 7) {
      var rem = v;
      for (i = 0; i < 12; i++) rem = (rem << 1) ^ ((rem >>> 11) * 0x1f25);
      var bits = (v << 12) | rem;
      for (i = 0; i < 18; i++) {
        var dark = ((bits >>> i) & 1) === 1;
        var p = size - 11 + (i % 3);
        var q = Math.floor(i / 3);
        mx.set(p, q, dark);
        mx.set(q, p, dark);
      }
    }
  }

  function drawFormat(mx, formatLevel, mask) {
    var data = (formatLevel << 3) | mask;
    var rem = data;
    for (var i = 0; i < 10; i++) rem = (rem << 1) ^ ((rem >>> 9) * 0x537);
    var bits = ((data << 10) | rem) ^ 0x5412;
    var bit = function (k) { return ((bits >>> k) & 1) === 1; };
    var size = mx.size;
    for (i = 0; i <= 5; i++) mx.set(8, i, bit(i));
    mx.set(8, 7, bit(6));
    mx.set(8, 8, bit(7));
    mx.set(7, 8, bit(8));
    for (i = 9; i < 15; i++) mx.set(14 - i, 8, bit(i));
    for (i = 0; i < 8; i++) mx.set(size - 1 - i, 8, bit(i));
    for (i = 8; i < 15; i++) mx.set(8, size - 15 + i, bit(i));
    mx.set(8, size - 8, true);
  }

  function drawCodewords(mx, codewords) {
    var size = mx.size;
    var i = 0;
    var total = codewords.length * 8;
    for (var right = size - 1; right >= 1; right -= 2) {
      if (right === 6) right = 5;
      for (var vert = 0; vert < size; vert++) {
        for (var j = 0; j < 2; j++) {
          var x = right - j;
          var upward = ((right + 1) & 2) === 0;
          var y = upward ? size - 1 - vert : vert;
          if (!mx.fn[y][x] && i < total) {
            mx.m[y][x] = ((codewords[i >>> 3] >>> (7 - (i & 7))) & 1) === 1;
            i++;
          }
        }
      }
    }
  }

  function applyMask(mx, mask) {
    var f = MASKS[mask];
    for (var y = 0; y < mx.size; y++) {
      for (var x = 0; x < mx.size; x++) {
        if (!mx.fn[y][x] && f(x, y)) mx.m[y][x] = !mx.m[y][x];
      }
    }
  }

  // The specification's penalty: runs of 5+, 2x2 blocks, finder-like patterns, dark balance.
  function penalty(m) {
    var size = m.length;
    var result = 0;
    function addHistory(len, h) {
      if (h[0] === 0) len += size; // the light border before the first run
      h.pop();
      h.unshift(len);
    }
    function finderLike(h) {
      var n = h[1];
      var core = n > 0 && h[2] === n && h[3] === n * 3 && h[4] === n && h[5] === n;
      return (core && h[0] >= n * 4 && h[6] >= n ? 1 : 0) + (core && h[6] >= n * 4 && h[0] >= n ? 1 : 0);
    }
    function line(get) {
      var color = false;
      var run = 0;
      var h = [0, 0, 0, 0, 0, 0, 0];
      for (var i = 0; i < size; i++) {
        if (get(i) === color) {
          run++;
          if (run === 5) result += 3;
          else if (run > 5) result++;
        } else {
          addHistory(run, h);
          if (!color) result += finderLike(h) * 40;
          color = get(i);
          run = 1;
        }
      }
      if (color) {
        addHistory(run, h);
        run = 0;
      }
      run += size;
      addHistory(run, h);
      result += finderLike(h) * 40;
    }
    var dark = 0;
    for (var a = 0; a < size; a++) {
      line(function (i) { return m[a][i]; });
      line(function (i) { return m[i][a]; });
      for (var b = 0; b < size; b++) {
        if (m[a][b]) dark++;
        if (a < size - 1 && b < size - 1) {
          var c = m[a][b];
          if (c === m[a][b + 1] && c === m[a + 1][b] && c === m[a + 1][b + 1]) result += 3;
        }
      }
    }
    var total = size * size;
    result += (Math.ceil(Math.abs(dark * 20 - total * 10) / total) - 1) * 10;
    return result;
  }

  // `mask` (0-7) forces a mask; otherwise the one with the lowest penalty wins.
  function encode(text, level, mask) {
    level = level === "M" ? "M" : "L";
    var t = TABLE[level];
    var bytes = utf8(text);
    var v = 1;
    while (v <= MAX_VERSION && 4 + (v < 10 ? 8 : 16) + bytes.length * 8 > dataCodewords(v, t) * 8) v++;
    if (v > MAX_VERSION) throw new RangeError("too long for a QR code here");
    var capacity = dataCodewords(v, t) * 8;
    var bits = [];
    var push = function (value, n) {
      for (var i = n - 1; i >= 0; i--) bits.push((value >>> i) & 1);
    };
    push(4, 4); // byte mode
    push(bytes.length, v < 10 ? 8 : 16);
    bytes.forEach(function (b) { push(b, 8); });
    push(0, Math.min(4, capacity - bits.length));
    push(0, (8 - (bits.length % 8)) % 8);
    for (var pad = 0xec; bits.length < capacity; pad ^= 0xec ^ 0x11) push(pad, 8);
    var data = [];
    for (var i = 0; i < bits.length; i += 8) data.push(parseInt(bits.slice(i, i + 8).join(""), 2));
    var codewords = withErrorCorrection(data, v, t);

    var mx = new Matrix(v);
    drawFunctionPatterns(mx, v);
    drawCodewords(mx, codewords);
    var best = mask;
    if (best === undefined || best === null) {
      var lowest = Infinity;
      for (var k = 0; k < 8; k++) {
        applyMask(mx, k);
        drawFormat(mx, t.format, k);
        var score = penalty(mx.m);
        if (score < lowest) {
          lowest = score;
          best = k;
        }
        applyMask(mx, k); // XOR again: undone
      }
    }
    applyMask(mx, best);
    drawFormat(mx, t.format, best);
    return { version: v, level: level, mask: best, size: mx.size, modules: mx.m };
  }

  // Each horizontal run of dark modules as one stroke, centred on its row.
  function svg(text, label) {
    var code = encode(text, "L");
    var d = [];
    code.modules.forEach(function (row, y) {
      for (var x = 0; x < code.size; x++) {
        if (!row[x]) continue;
        var start = x;
        while (x < code.size && row[x]) x++;
        d.push("M" + (start + 4) + " " + (y + 4.5) + "h" + (x - start));
      }
    });
    var ns = "http://www.w3.org/2000/svg";
    var side = code.size + 8;
    var el = document.createElementNS(ns, "svg");
    el.setAttribute("viewBox", "0 0 " + side + " " + side);
    el.setAttribute("role", "img");
    el.setAttribute("aria-label", label || "QR code");
    el.setAttribute("shape-rendering", "crispEdges");
    var bg = document.createElementNS(ns, "rect");
    bg.setAttribute("width", side);
    bg.setAttribute("height", side);
    bg.setAttribute("fill", "#fff");
    var path = document.createElementNS(ns, "path");
    path.setAttribute("stroke", "#000");
    path.setAttribute("d", d.join(""));
    el.appendChild(bg);
    el.appendChild(path);
    return el;
  }

  root.MlinkQR = { encode: encode, svg: svg, penalty: penalty };
})(typeof window !== "undefined" ? window : globalThis);
