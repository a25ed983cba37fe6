// The result editor (templates/pipelines/editor.html). wavesurfer.js draws and plays the recording (the
// audio element asks the server for ranges, so a long recording seeks without being downloaded); the tiers are
// this page's own rows under it, positioned in percent of the duration so that they follow wavesurfer's zoom.
// Every edit changes `tiers` after keeping a copy for undo; Save sends them, and the server checks them again.
(function () {
  "use strict";
  var data = JSON.parse(document.getElementById("editor-data").textContent);
  var audio = document.getElementById("editor-audio");
  var rows = document.getElementById("editor-tiers");
  var inner = document.getElementById("editor-tiers-inner");
  var labelBox = document.getElementById("editor-label");
  var message = document.getElementById("editor-message");
  // `version`: the latest, on which a save is based; an older version is shown read-only until the researcher
  // starts a new version from it (`from`: the version it came from, for the server's confidence rule).
  var tiers = data.tiers, version = data.latest, from = null, readOnly = data.read_only, undone = [], redone = [];
  var selected = null; // {tier, index}
  var selection = null; // the region dragged across the waveform
  // `savedAt`: how many edits the undo list held when the tiers were last saved (or opened); -1 once a new edit has
  // replaced the undone ones that led back there. Saved: the undo list is back at that point.
  var saved = true, savedAt = 0, savedNow = false;
  var SAME = 1e-6, SHORTEST = 0.005; // seconds: one time; the shortest interval a drag leaves
  // A long recording opens zoomed in, and only the intervals around the visible stretch are drawn: an hour has
  // tens of thousands, each narrower than a pixel when all of it is shown.
  var MOST_DRAWN = 3000;
  var view = {start: 0, end: data.duration}, drawn = {start: 0, end: data.duration};

  // The outline comes as base64 of signed bytes, each column's lowest and highest sample in 1/127ths of the loudest.
  var outline = (function () {
    var bytes = atob(data.peaks), values = new Float32Array(bytes.length);
    for (var i = 0; i < bytes.length; i++) values[i] = ((bytes.charCodeAt(i) << 24) >> 24) / 127;
    return values;
  })();
  var HEIGHT = 120;
  if (readOnly) document.body.classList.add("editor-read-only");
  var regions = WaveSurfer.Regions.create();
  var ws = WaveSurfer.create({
    container: "#editor-waveform", media: audio, peaks: [outline], duration: data.duration, height: HEIGHT,
    minPxPerSec: data.duration > 30 ? 100 : 0,
    // The page follows the play head itself (`following`): wavesurfer's own following also kept a zoom and N
    // on the moving play head, away from what the researcher had selected.
    autoScroll: false, autoCenter: false,
    normalize: true, waveColor: "#0d6efd", progressColor: "#0a58ca", cursorColor: "#dc3545", cursorWidth: 2,
    cspNonce: document.getElementById("editor-waveform").dataset.nonce,
    plugins: [regions],
  });
  regions.enableDragSelection({color: "rgba(255, 193, 7, 0.3)"});
  regions.on("region-created", function (region) {
    if (selection) selection.remove();
    selection = region;
  });

  // The line under the title says which version is shown, whether it can be changed, and whether changes are unsaved.
  var state = document.getElementById("editor-state"), shownAs = state.textContent;
  function showState() {
    saved = undone.length === savedAt;
    if (readOnly) return;
    var text;
    if (from !== null) {
      text = "editing a new version made from version " + from + ", " + (saved ? "not saved yet" : "with unsaved changes") +
        ": saving makes it version " + (version + 1);
    } else {
      text = savedNow ? "editing version " + version + " (saved by you just now)" : shownAs;
      if (!saved) text += ", with unsaved changes: saving makes them version " + (version + 1);
    }
    state.textContent = text;
  }

  function say(text, error) {
    message.textContent = text;
    message.classList.toggle("error", Boolean(error));
  }

  // Drawing ----------------------------------------------------------------------------------------

  // On the recording's time axis, as the waveform: a result may start after 0 or end before (or a hair after) the
  // recording's end; stretched over the waveform's width, its tiers had stood under the wrong sounds.
  function percent(time) { return time / data.duration * 100 + "%"; }

  function render() {
    inner.textContent = "";
    var margin = view.end - view.start;
    drawn = {start: view.start - margin, end: view.end + margin};
    tiers.forEach(function (tier, t) {
      var row = document.createElement("div");
      row.className = "editor-tier";
      row.dataset.tier = tier.name;
      var name = document.createElement("span");
      name.className = "editor-tier-name";
      name.textContent = tier.name;
      row.appendChild(name);
      var shown = tier.intervals.filter(function (i) { return i.end >= drawn.start && i.start <= drawn.end; });
      if (shown.length > MOST_DRAWN) {
        name.textContent = tier.name + ": zoom in (Ctrl+I) to see and correct its intervals";
        inner.appendChild(row);
        return;
      }
      tier.intervals.forEach(function (interval, i) {
        if (interval.end < drawn.start || interval.start > drawn.end) return;
        var box = document.createElement("div");
        box.className = "editor-interval";
        box.classList.toggle("empty", !interval.label.trim());
        box.classList.toggle("low", interval.confidence !== null && interval.confidence < data.low);
        box.classList.toggle("selected", Boolean(selected && selected.tier === t && selected.index === i));
        box.style.left = percent(interval.start);
        box.style.width = percent(interval.end - interval.start);
        box.dataset.tier = t;
        box.dataset.index = i;
        // In a span that stays on the screen (sticky, static/css/equestria.css): zoomed in on part of a long word, its
        // label, centred in the whole word, was off the screen.
        var text = document.createElement("span");
        text.textContent = interval.label;
        box.appendChild(text);
        box.title = interval.label + " " + interval.start.toFixed(3) + "–" + interval.end.toFixed(3) + " s" +
          (interval.confidence === null ? "" : " · confidence " + interval.confidence.toFixed(2));
        row.appendChild(box);
        if (i > 0) {
          var edge = document.createElement("div");
          edge.className = "editor-boundary";
          edge.style.left = percent(interval.start);
          edge.dataset.tier = t;
          edge.dataset.index = i;
          edge.dataset.time = interval.start.toFixed(3);
          row.appendChild(edge);
        }
      });
      inner.appendChild(row);
      // The labels kept on the screen stop after the tier's name, which is kept there too (sticky, equestria.css):
      // both at the left edge, each was drawn over the other.
      row.style.setProperty("--tier-name-width", name.offsetWidth + "px");
    });
    (data.points || []).forEach(function (tier) { // point tiers: shown with their labels, kept as they are on a save
      var row = document.createElement("div");
      row.className = "editor-tier editor-point-tier";
      row.dataset.tier = tier.name;
      var name = document.createElement("span");
      name.className = "editor-tier-name";
      name.textContent = tier.name + " (points, not editable here)";
      row.appendChild(name);
      var shown = tier.points.filter(function (p) { return p.time >= drawn.start && p.time <= drawn.end; });
      if (shown.length > MOST_DRAWN) {
        name.textContent = tier.name + ": zoom in (Ctrl+I) to see its points";
        shown = [];
      }
      shown.forEach(function (point) {
        var mark = document.createElement("div");
        mark.className = "editor-point";
        mark.style.left = percent(point.time);
        mark.textContent = point.label;
        mark.title = point.label + " " + point.time.toFixed(3) + " s";
        row.appendChild(mark);
      });
      inner.appendChild(row);
    });
    labelBox.disabled = !selected || readOnly;
    labelBox.value = selected ? tiers[selected.tier].intervals[selected.index].label : "";
    fit();
  }

  function fit() {
    inner.style.width = ws.getWrapper().scrollWidth + "px";
    rows.scrollLeft = ws.getScroll();
  }

  // A click on the waveform puts the play head there and stops playing, as in Praat: playing on, the head moved
  // away before Enter could split where the researcher had clicked.
  ws.on("interaction", function () { if (ws.isPlaying()) ws.pause(); });
  // While it plays, the view turns a page when the play head leaves it, as ELAN's does, until the researcher moves
  // the view (zoom, N, Ctrl+A, the wheel, the scroll bar): from then on the view stays where they put it (the
  // recording plays on) until the next play.
  var following = false;
  ws.on("play", function () { following = true; });
  ws.on("timeupdate", function (time) {
    if (!following || !ws.isPlaying()) return;
    var x = time * pxPerSecond() - ws.getScroll(), width = ws.getWidth();
    if (x < 0 || x > width) ws.setScroll(time * pxPerSecond() - width * 0.05);
  });
  function holdView() { following = false; }
  document.getElementById("editor-waveform").addEventListener("pointerdown", holdView); // its scroll bar too
  document.getElementById("editor-waveform").addEventListener("wheel", holdView, {passive: true});
  ws.on("redraw", function () { fit(); drawDetail(); drawRuler(); });
  ws.on("zoom", function () { fit(); drawDetail(); drawRuler(); });
  ws.on("timeupdate", function () { if (detailShown) drawDetail(); });
  ws.on("scroll", function (start, end, left) {
    rows.scrollLeft = left;
    drawDetail();
    drawRuler();
    view = {start: start, end: end};
    if (start < drawn.start || end > drawn.end || end - start < (drawn.end - drawn.start) / 6) render();
  });
  rows.addEventListener("wheel", function (event) {
    holdView();
    ws.setScroll(ws.getScroll() + event.deltaX + event.deltaY);
    event.preventDefault();
  }, {passive: false});

  // Zoomed in past the outline --------------------------------------------------------------------
  // The page comes with an outline of at most 100 000 columns (an hour: 28 a second); zoomed in further, each of its
  // columns is several pixels wide and the periods cannot be seen. Then this canvas, over wavesurfer's (under its
  // play head and selection), draws the stretch shown from the server's detail of it (pipelines.views.result_peaks),
  // asked for once zooming and scrolling have settled, a screen's width either side. The server reads only that
  // stretch of the file: an hour-long recording is never decoded or held whole in the browser.
  var OUTLINE_RATE = outline.length / 2 / data.duration; // columns a second
  var detail = null, detailAsked = null, detailTimer = null, detailShown = false;
  var canvas = document.createElement("canvas");
  canvas.className = "editor-detail";
  Object.assign(canvas.style, {position: "absolute", top: "0", zIndex: "2", pointerEvents: "none", display: "none"});
  ws.getWrapper().appendChild(canvas);

  function deep() { return pxPerSecond() > OUTLINE_RATE * 1.5; }

  function fineEnough(source, start, end, pps) { // covers the view with a column a pixel, or every sample
    var columns = source.peaks.length / 2 / (source.end - source.start);
    return source.start <= start + SAME && source.end >= end - SAME && (source.samples || columns >= pps * 0.9);
  }

  function drawDetail() {
    var pps = pxPerSecond();
    detailShown = deep();
    canvas.style.display = detailShown ? "block" : "none";
    if (!detailShown) return;
    var left = ws.getScroll(), width = ws.getWidth(), ratio = window.devicePixelRatio || 1;
    var start = left / pps, end = Math.min(data.duration, (left + width) / pps);
    var source = detail && fineEnough(detail, start, end, pps) ? detail : {start: 0, end: data.duration, peaks: outline};
    if (source !== detail) askDetail(start, end, pps);
    Object.assign(canvas.style, {left: left + "px", width: width + "px", height: HEIGHT + "px"});
    canvas.width = Math.round(width * ratio);
    canvas.height = Math.round(HEIGHT * ratio);
    var context = canvas.getContext("2d");
    context.setTransform(ratio, 0, 0, ratio, 0, 0);
    context.fillStyle = "#fff";
    context.fillRect(0, 0, width, HEIGHT);
    var played = (ws.getCurrentTime() - start) * pps;
    paint(context, source, start, pps, width, "#0d6efd");
    if (played > 0) { // the part played in wavesurfer's progress colour, as under it
      context.save();
      context.beginPath();
      context.rect(0, 0, played, HEIGHT);
      context.clip();
      paint(context, source, start, pps, width, "#0a58ca");
      context.restore();
    }
  }

  function paint(context, source, start, pps, width, colour) {
    var peaks = source.peaks, count = peaks.length / 2, step = (source.end - source.start) / count, middle = HEIGHT / 2;
    context.fillStyle = context.strokeStyle = colour;
    if (source.samples && step * pps > 2) { // single samples further apart than two pixels: the line through them
      var first = Math.max(0, Math.floor((start - source.start) / step) - 1);
      var last = Math.min(count - 1, Math.ceil((start + width / pps - source.start) / step) + 1);
      context.beginPath();
      for (var i = first; i <= last; i++) {
        var x = (source.start + (i + 0.5) * step - start) * pps, y = middle - peaks[2 * i] * middle;
        if (i === first) context.moveTo(x, y); else context.lineTo(x, y);
      }
      context.lineWidth = 1.5;
      context.stroke();
      return;
    }
    for (var px = 0; px < width; px++) { // each pixel: the lowest and highest of the columns under it
      var from = Math.floor((start + px / pps - source.start) / step);
      var to = Math.max(from + 1, Math.floor((start + (px + 1) / pps - source.start) / step));
      from = Math.max(0, from);
      to = Math.min(count, to);
      if (from >= to) continue;
      var low = Infinity, high = -Infinity;
      for (var c = from; c < to; c++) { low = Math.min(low, peaks[2 * c]); high = Math.max(high, peaks[2 * c + 1]); }
      context.fillRect(px, middle - high * middle, 1, Math.max(1, (high - low) * middle));
    }
  }

  // The time ruler under the waveform: only the ticks of the stretch shown, in steps that suit the zoom, down to a
  // millisecond. (wavesurfer's timeline plugin lays out a tick a second for the whole recording on every zoom, each
  // measured in the page: 2.3 of the 4 s an hour-long result took to open, and its ticks stay a second apart at any
  // zoom.)
  var ruler = document.getElementById("editor-ruler"), RULER_HEIGHT = 20;
  var STEPS = [0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.2, 0.5, 1, 2, 5, 10, 15, 30, 60, 120, 300, 600, 1800];

  function drawRuler() {
    var pps = pxPerSecond(), left = ws.getScroll(), width = ws.getWidth(), ratio = window.devicePixelRatio || 1;
    var step = STEPS.find(function (s) { return s * pps >= 70; }) || STEPS[STEPS.length - 1];
    var decimals = Math.max(0, Math.ceil(-Math.log10(step) - 1e-9));
    ruler.width = Math.round(width * ratio);
    ruler.height = Math.round(RULER_HEIGHT * ratio);
    Object.assign(ruler.style, {width: width + "px", height: RULER_HEIGHT + "px"});
    var context = ruler.getContext("2d");
    context.setTransform(ratio, 0, 0, ratio, 0, 0);
    context.clearRect(0, 0, width, RULER_HEIGHT);
    context.fillStyle = "#6c757d";
    context.font = "10px sans-serif";
    var start = left / pps, end = (left + width) / pps;
    for (var n = Math.floor(start / step * 5); n / 5 * step <= end; n++) { // five ticks to a label
      var time = n / 5 * step, x = Math.round((time - start) * pps) + 0.5, labelled = n % 5 === 0;
      context.fillRect(x, 0, 1, labelled ? 8 : 4);
      if (labelled) context.fillText(clock(time, decimals), x + 3, 17);
    }
  }

  function clock(time, decimals) { // 75.5 s as "1:15.5", 3.25 s as "3.25"
    time = Number(time.toFixed(decimals)); // 119.99999999 is 120, not 1:60
    if (time < 60) return time.toFixed(decimals);
    var minutes = Math.floor(time / 60), seconds = time - minutes * 60;
    return minutes + ":" + (seconds < 10 ? "0" : "") + seconds.toFixed(decimals);
  }

  // Asked 150 ms after the view first needs it, for the view as it is then; while the view keeps moving (a drag of
  // the scroll bar, or playing with the page following the play head), again every 150 ms, not only once it stops.
  var detailWanted = null;
  function askDetail(start, end, pps) {
    detailWanted = {start: start, end: end, pps: pps};
    if (detailTimer) return;
    detailTimer = setTimeout(function () {
      detailTimer = null;
      var start = detailWanted.start, end = detailWanted.end, pps = detailWanted.pps;
      var span = end - start, most = data.detail_seconds;
      if (span > most) return; // wider than the server gives: the outline is as fine as the screen there
      var first = Math.max(0, start - Math.min(span, (most - span) / 2));
      var last = Math.min(data.duration, end + Math.min(span, (most - span) / 2));
      var columns = Math.max(1, Math.min(data.detail_columns, Math.ceil((last - first) * pps)));
      var query = "?start=" + first.toFixed(6) + "&end=" + last.toFixed(6) + "&columns=" + columns;
      if (detailAsked === query) return;
      detailAsked = query;
      fetch(data.detail + query, {credentials: "same-origin"}).then(function (response) {
        return response.ok ? response.json() : Promise.reject(response.status);
      }).then(function (got) {
        if (detailAsked !== query) return; // the view moved on meanwhile
        var peaks = new Float32Array(got.peaks.length), scale = data.loudest || 1;
        for (var i = 0; i < peaks.length; i++) peaks[i] = got.peaks[i] / scale; // as the outline: 1 the loudest
        detail = {start: got.start, end: got.end, samples: got.samples, peaks: peaks};
        drawDetail();
      }, function () {
        detailAsked = null;
        say("The waveform's detail could not be loaded; it shows the outline. Zoom or scroll to try again.", true);
      });
    }, 150);
  }

  // Editing ----------------------------------------------------------------------------------------

  function change(edit) {
    if (readOnly) return say(READ_ONLY, true);
    var before = JSON.stringify(tiers);
    var refusal = edit();
    if (refusal) {
      tiers = JSON.parse(before);
      say(refusal, true);
      return;
    }
    edited(before);
    say("");
    render();
    showState();
  }

  function edited(before) {
    if (undone.length < savedAt) savedAt = -1; // the saved tiers were among those undone, now out of reach
    undone.push(before);
    redone = [];
  }

  function restore(source, to) {
    if (!source.length) return;
    to.push(JSON.stringify(tiers));
    tiers = JSON.parse(source.pop());
    render();
    showState();
  }

  function at(tier, time) { // the index of the boundary of `tier` at `time`, or -1
    return tier.intervals.findIndex(function (interval, i) { return i > 0 && Math.abs(interval.start - time) < SAME; });
  }

  function containing(tier, time) {
    return tier.intervals.findIndex(function (interval) { return interval.start < time && time < interval.end; });
  }

  function partners(t) { // the tiers whose boundaries move with those of tier t: a word tier and its phone tiers
    if (tiers[t].words !== null) return [tiers[t].words];
    return tiers.map(function (tier, p) { return tier.words === t ? p : -1; }).filter(function (p) { return p >= 0; });
  }

  // {moves: [{tier, index}], low, high}: what a drag of this boundary moves, and how far. An interval it would leave
  // shorter than SHORTEST limits it there, unless the interval is already shorter: then it keeps its length (the
  // boundary moves away from it only). Else a drag next to a 2-ms interval jumped the other way, or past it.
  function edgeMove(t, index) {
    var time = tiers[t].intervals[index].start, moves = [{tier: t, index: index}], low = 0, high = Infinity;
    function above(start) { return Math.min(start + SHORTEST, time); }
    function below(end) { return Math.max(end - SHORTEST, time); }
    partners(t).forEach(function (p) {
      var other = at(tiers[p], time);
      if (other >= 0) {
        moves.push({tier: p, index: other});
      } else { // stay inside the partner's interval: a phone inside its word, a word edge off the phones
        var inside = tiers[p].intervals[containing(tiers[p], time)];
        if (inside) { low = Math.max(low, above(inside.start)); high = Math.min(high, below(inside.end)); }
      }
    });
    moves.forEach(function (m) {
      var list = tiers[m.tier].intervals;
      low = Math.max(low, above(list[m.index - 1].start));
      high = Math.min(high, below(list[m.index].end));
    });
    return {moves: moves, low: low, high: high};
  }

  function moveEdge(plan, time) {
    time = Math.min(plan.high, Math.max(plan.low, time));
    plan.moves.forEach(function (m) {
      var list = tiers[m.tier].intervals;
      list[m.index - 1].end = list[m.index].start = time;
      list[m.index - 1].confidence = list[m.index].confidence = null; // the aligner's figure was for the old edge
    });
  }

  function timeAt(clientX) {
    var box = inner.getBoundingClientRect();
    return (clientX - box.left) / box.width * data.duration;
  }

  inner.addEventListener("pointerdown", function (event) {
    var edge = event.target.closest(".editor-boundary");
    if (!edge) return;
    event.preventDefault();
    var t = Number(edge.dataset.tier), before = JSON.stringify(tiers), plan = edgeMove(t, Number(edge.dataset.index));
    var moved = false, startX = event.clientX;
    // A boundary's handle is 7 pixels wide, wider than a short phone at a low zoom: a press that does not move is a
    // click on the interval under the pointer, not a drag.
    function move(e) {
      if (!moved && Math.abs(e.clientX - startX) < 3) return;
      if (readOnly) return;
      moved = true;
      moveEdge(plan, timeAt(e.clientX));
      render();
    }
    function up(e) {
      document.removeEventListener("pointermove", move);
      document.removeEventListener("pointerup", up);
      if (moved) { // a drag held at its limit the whole way changed nothing: no undo step, nothing unsaved
        if (JSON.stringify(tiers) !== before) edited(before);
        say("");
        showState();
        return;
      }
      var time = timeAt(e.clientX), index = tiers[t].intervals.findIndex(function (i) { return i.start <= time && time < i.end; });
      if (index >= 0) { select(t, index); playInterval(); }
    }
    document.addEventListener("pointermove", move);
    document.addEventListener("pointerup", up);
  });

  inner.addEventListener("click", function (event) {
    var box = event.target.closest(".editor-interval");
    if (!box) return;
    select(Number(box.dataset.tier), Number(box.dataset.index));
    playInterval();
  });

  function select(t, index) {
    selected = {tier: t, index: Math.max(0, Math.min(index, tiers[t].intervals.length - 1))};
    if (selection) { selection.remove(); selection = null; }
    render();
  }

  labelBox.addEventListener("change", function () {
    if (!selected) return;
    var interval = tiers[selected.tier].intervals[selected.index];
    if (interval.label === labelBox.value) return;
    change(function () { interval.label = labelBox.value; interval.confidence = null; });
  });

  // Enter (or leaving the box) applies the label and gives the keys back to the page, so that → goes on to the next
  // interval; Escape leaves the label as it was; Ctrl+S applies it and saves (in the box, it was the browser's "Save
  // page as").
  labelBox.addEventListener("keydown", function (event) {
    var ctrl = event.ctrlKey || event.metaKey;
    if (event.key === "Escape" && selected) labelBox.value = tiers[selected.tier].intervals[selected.index].label;
    else if (!(event.key === "Enter" || (ctrl && event.key.toLowerCase() === "s"))) return;
    event.preventDefault();
    labelBox.blur();
    if (ctrl) save();
  });

  function split() {
    var t = selected ? selected.tier : 0, tier = tiers[t], time = ws.getCurrentTime();
    change(function () {
      var index = containing(tier, time);
      if (index < 0 || time - tier.intervals[index].start < SHORTEST || tier.intervals[index].end - time < SHORTEST) {
        return "Put the play head inside an interval of the selected tier, away from its edges, to split it there.";
      }
      var cut = tiers[t].words === null && partners(t).some(function (p) { // a word tier: no phone may be cut
        var under = tiers[p].intervals[containing(tiers[p], time)];
        return under && under.label.trim();
      });
      if (cut) return "A word is split between its phones: put the play head on a phone boundary first.";
      var interval = tier.intervals[index];
      tier.intervals.splice(index + 1, 0, {start: time, end: interval.end, label: "", confidence: null});
      interval.end = time;
      interval.confidence = null;
      selected = {tier: t, index: index};
    });
  }

  function merge() {
    if (!selected) return say("Select an interval first.", true);
    var t = selected.tier, list = tiers[t].intervals, index = selected.index;
    change(function () {
      if (index + 1 >= list.length) return "The last interval has no next one to merge with.";
      var time = list[index].end, words = tiers[t].words;
      if (words !== null && at(tiers[words], time) >= 0) {
        return "This phone boundary is also a word boundary: merge the words first, so that the phone stays inside its word.";
      }
      var labels = [list[index].label, list[index + 1].label].filter(function (l) { return l.trim(); });
      list[index].label = labels.join(tiers[t].kind === "phones" ? "" : " ");
      list[index].end = list[index + 1].end;
      list[index].confidence = null;
      list.splice(index + 1, 1);
    });
  }

  // Listening, zoom and keys ----------------------------------------------------------------------

  function playInterval() {
    if (!selected) return;
    var interval = tiers[selected.tier].intervals[selected.index];
    ws.play(interval.start, interval.end);
  }

  function playOrStop() {
    if (ws.isPlaying()) return ws.pause();
    if (selection) return ws.play(selection.start, selection.end);
    ws.play();
  }

  function pxPerSecond() { return ws.getWrapper().scrollWidth / data.duration; }

  // What a zoom keeps in its place on the screen: the selected interval, or else the stretch dragged across the
  // waveform, if it is on the screen; else the play head if it stands on the screen (a click put it there); else the
  // middle of the view. Never the head of a recording playing: it has moved on from what the researcher looks at.
  function anchor() {
    var start = ws.getScroll() / pxPerSecond(), end = (ws.getScroll() + ws.getWidth()) / pxPerSecond();
    var marked = [selected && tiers[selected.tier].intervals[selected.index], selection].find(function (m) {
      return m && m.end > start && m.start < end;
    });
    if (marked) { // its middle; if that is off the screen, the middle of the part on it
      var middle = (marked.start + marked.end) / 2;
      return middle >= start && middle <= end ? middle : (Math.max(marked.start, start) + Math.min(marked.end, end)) / 2;
    }
    var head = ws.getCurrentTime();
    if (!ws.isPlaying() && head >= start && head <= end) return head;
    return (start + end) / 2;
  }

  function zoomTo(pps, time, x) { // time at x pixels from the view's left edge
    holdView();
    var before = pxPerSecond();
    ws.zoom(pps);
    ws.setScroll(time * pxPerSecond() - x);
    if (pps > before * 1.01 && pxPerSecond() < before * 1.01) {
      say("The browser cannot make the waveform of a recording this long any wider: this is as far as it zooms in.", true);
    }
  }

  function zoom(factor) {
    var time = anchor();
    zoomTo(Math.max(1, pxPerSecond() * factor), time, time * pxPerSecond() - ws.getScroll());
  }

  function zoomAll() { holdView(); ws.zoom(0); }

  function zoomToSelected() {
    if (!selected) return say("Select an interval first: N zooms to it.", true);
    var interval = tiers[selected.tier].intervals[selected.index], width = ws.getWidth();
    // At least 50 ms across the view, as Praat's closest look; the interval in its middle.
    zoomTo(width / Math.max(interval.end - interval.start, 0.05), (interval.start + interval.end) / 2, width / 2);
  }

  function reveal(interval) { // scrolls the interval into view, if it is not (the keys ← and → select off the screen)
    var pps = pxPerSecond(), left = ws.getScroll(), width = ws.getWidth();
    if (interval.start * pps >= left && interval.end * pps <= left + width) return;
    var fits = (interval.end - interval.start) * pps < width * 0.9; // in the middle, or from near the left edge
    ws.setScroll(fits ? (interval.start + interval.end) / 2 * pps - width / 2 : interval.start * pps - width * 0.05);
  }

  var spectrogram = null;
  function toggleSpectrogram(button) {
    var box = document.getElementById("editor-spectrogram"), on = box.hidden;
    box.hidden = !on;
    button.setAttribute("aria-pressed", String(on));
    if (on && !spectrogram) {
      // The spectrogram needs the samples, not only the waveform's outline: the whole recording is fetched once.
      say("Loading the recording for its spectrogram…");
      ws.load(data.audio).then(function () {
        spectrogram = ws.registerPlugin(WaveSurfer.Spectrogram.create({container: box, labels: true, height: 160, useWebWorker: false}));
        say("");
      }, function () { say("The spectrogram could not be made from this recording.", true); });
    }
  }

  function save() {
    if (readOnly) return say(READ_ONLY, true);
    say("Saving…");
    var sent = undone.length;
    fetch(data.save, {
      method: "POST", credentials: "same-origin",
      headers: {"Content-Type": "application/json",
                "X-CSRFToken": document.querySelector("#editor-csrf [name=csrfmiddlewaretoken]").value},
      // Times to the microsecond (the server's tolerance): an hour's tiers stay a few megabytes.
      body: JSON.stringify({base: version, from: from, alignment: data.alignment,
                            tiers: tiers.map(function (t) { return {name: t.name, intervals: t.intervals}; })},
                           function (key, value) { return typeof value === "number" ? Math.round(value * 1e6) / 1e6 : value; }),
    }).then(function (response) {
      return response.json().catch(function () { return {}; }).then(function (body) {
        if (!response.ok) return say(body.error || "Not saved: the server refused it (" + response.status + "). Try again.", true);
        version = body.version;
        from = null;
        savedAt = sent;
        savedNow = true;
        showState();
        // A reload shows the latest, this one, rather than the older version this page was opened on.
        if (location.search) history.replaceState(null, "", location.pathname);
        say(body.message);
      });
    }, function () { say("Not saved: the server could not be reached. Try again.", true); });
  }

  var READ_ONLY = "This is an older version, shown as it was saved: press “Start a new version from this one” to correct it.";

  function startFromThis() {
    readOnly = false;
    from = data.version; // saved as the next version after the latest, made from this one
    document.body.classList.remove("editor-read-only");
    document.getElementById("editor-old-version").hidden = true;
    labelBox.disabled = !selected;
    showState();
    say("Your corrections will be saved as a new version, after version " + version + ", the latest.");
  }

  var actions = {
    "play": playOrStop, "play-interval": playInterval, "zoom-in": function () { zoom(2); },
    "zoom-out": function () { zoom(0.5); }, "zoom-all": zoomAll, "zoom-selected": zoomToSelected, "split": split, "merge": merge,
    "undo": function () { restore(undone, redone); }, "redo": function () { restore(redone, undone); }, "save": save,
  };
  var startButton = document.querySelector('#editor-old-version [data-action="start-from"]');
  if (startButton) startButton.addEventListener("click", function () { startButton.blur(); startFromThis(); });
  document.getElementById("editor-toolbar").addEventListener("click", function (event) {
    var button = event.target.closest("[data-action]");
    if (!button) return;
    button.blur(); // back to the page, whose keys are the editor's shortcuts
    if (button.dataset.action === "spectrogram") return toggleSpectrogram(button);
    actions[button.dataset.action]();
  });

  document.addEventListener("keydown", function (event) {
    // Typing a label, or moving through the page's links and buttons with the keyboard (Shift+Tab from the page).
    if (event.target.closest("input, button, a, select, textarea, summary")) return;
    var ctrl = event.ctrlKey || event.metaKey, key = event.key.toLowerCase(), act = null;
    if (event.key === "Tab" && !event.shiftKey) act = playOrStop;
    else if (event.key === "ArrowRight" || event.key === "ArrowLeft") {
      act = function () { // stops playing, as a click does: the play head stays at the interval selected
        var step = event.key === "ArrowRight" ? 1 : -1;
        if (ws.isPlaying()) ws.pause();
        select(selected ? selected.tier : 0, selected ? selected.index + step : 0);
        var interval = tiers[selected.tier].intervals[selected.index];
        ws.setTime(interval.start);
        reveal(interval);
      };
    } else if (ctrl && key === "i") act = actions["zoom-in"];
    else if (ctrl && key === "o") act = actions["zoom-out"];
    else if (ctrl && key === "a") act = actions["zoom-all"];
    // Praat's Ctrl+N opens a new window in Chrome and Firefox, which keep it from the page: N alone too.
    else if (key === "n" && !event.altKey && !event.shiftKey) act = zoomToSelected;
    else if (ctrl && (key === "y" || (key === "z" && event.shiftKey))) act = actions.redo;
    else if (ctrl && key === "z") act = actions.undo;
    else if (ctrl && key === "s") act = save;
    else if (event.key === "Enter") act = function () { if (ws.isPlaying()) ws.pause(); split(); }; // where it stood
    else if (event.key === "Delete") act = merge;
    if (!act) return;
    event.preventDefault();
    act();
  });

  window.addEventListener("beforeunload", function (event) { if (!saved) event.preventDefault(); });
  render();
  drawRuler();
})();
