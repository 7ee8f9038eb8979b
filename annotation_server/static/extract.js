// Extractor page: mark in/out from the player (I / O keys), play the marked span (P); a
// clip is saved with fetch, so the page (and the player's position) stays.
(function () {
  "use strict";
  const clipForm = document.getElementById("clip-form");
  const status = document.getElementById("save-status");
  // A clip saved in place joins "Clips on this movie" (ordered by in point).
  function addRow(row) {
    const table = document.querySelector("table.clips");
    if (!table) return;
    const tr = document.createElement("tr");
    tr.dataset.clip = String(row.id);
    tr.dataset.start = String(row.start_s);
    [String(row.id), null, row.start, row.end, row.intended, row.status,
     row.cut ? "yes" : "no"].forEach(function (text) {
      const td = document.createElement("td");
      if (text === null) {
        const link = document.createElement("a");
        link.href = "/extract/movie/" + row.movie_id;
        link.textContent = row.movie_title;
        td.appendChild(link);
      } else {
        td.textContent = text;
      }
      tr.appendChild(td);
    });
    const body = table.tBodies[0];
    const later = Array.prototype.find.call(body.rows, function (r) {
      return Number(r.dataset.start) > row.start_s;
    });
    body.insertBefore(tr, later || null);
    table.hidden = false;
    document.querySelectorAll(".no-clips").forEach(function (p) { p.remove(); });
  }

  if (clipForm && window.fetch) {
    clipForm.addEventListener("submit", function (event) {
      event.preventDefault();
      const old = document.getElementById("error-message");
      if (old) old.remove();
      fetch(clipForm.action, {method: "POST", body: new FormData(clipForm),
                              credentials: "same-origin",
                              headers: {"Accept": "application/json"}})
        .then(function (response) {
          return response.json().catch(function () {
            return {error: "Not saved: the server answered " + response.status + "."};
          });
        })
        .then(function (data) {
          if (data.saved && data.row) addRow(data.row);
          status.textContent = data.saved ? data.message : data.error;
          status.className = data.saved ? "flash" : "error";
          status.id = "save-status";
          status.hidden = false;
        })
        .catch(function () {
          status.textContent = "Not saved: the server could not be reached.";
          status.className = "error";
          status.hidden = false;
        });
    });
  }
  const video = document.getElementById("movie-video");
  if (!video) return;
  const start = document.getElementById("start");
  const end = document.getElementById("end");
  const position = document.getElementById("position");
  let stopAt = null;

  function timecode(seconds) {
    const ms = Math.round(seconds * 1000);
    const h = Math.floor(ms / 3600000), m = Math.floor(ms / 60000) % 60;
    const s = (ms % 60000) / 1000;
    return String(h).padStart(2, "0") + ":" + String(m).padStart(2, "0") + ":" +
      s.toFixed(3).padStart(6, "0");
  }
  function seconds(text) {
    const parts = String(text).trim().split(":").map(Number);
    return parts.reduce(function (total, part) { return total * 60 + part; }, 0);
  }
  function playSpan(from, to) {
    video.currentTime = from;
    stopAt = to;
    video.play().catch(function () {});
  }
  function markIn() { start.value = video.currentTime.toFixed(3); }
  function markOut() { end.value = video.currentTime.toFixed(3); }

  video.addEventListener("timeupdate", function () {
    position.textContent = timecode(video.currentTime);
    if (stopAt !== null && video.currentTime >= stopAt) { video.pause(); stopAt = null; }
  });
  document.getElementById("mark-in").addEventListener("click", markIn);
  document.getElementById("mark-out").addEventListener("click", markOut);
  document.getElementById("play-span").addEventListener("click", function () {
    playSpan(seconds(start.value), seconds(end.value));
  });
  document.querySelectorAll("button.preview").forEach(function (button) {
    button.addEventListener("click", function () {
      playSpan(Number(button.dataset.start), Number(button.dataset.end));
    });
  });
  document.addEventListener("keydown", function (event) {
    if (event.ctrlKey || event.metaKey || event.altKey) return;
    const tag = event.target && event.target.tagName;
    if (tag === "INPUT" || tag === "SELECT" || tag === "TEXTAREA") return;
    if (event.key === "i" || event.key === "I") markIn();
    else if (event.key === "o" || event.key === "O") markOut();
    else if (event.key === "p" || event.key === "P") playSpan(seconds(start.value), seconds(end.value));
  });
})();
