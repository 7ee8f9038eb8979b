// Annotator page: keys 1-7 vote, R or Space replays, U or Backspace goes back to the last
// vote. A vote on a new clip is posted with fetch and the next clip, prefetched while this
// one plays (a second, hidden <video>), is swapped in at once (history.pushState); without
// JavaScript, or on a revision, the plain form posts and the server redirects.
(function () {
  "use strict";
  let video = document.getElementById("clip-video");
  const form = document.getElementById("vote-form");
  if (!video || !form) return;
  const player = video.parentNode;
  const unmute = document.getElementById("unmute");
  const errorBox = document.getElementById("vote-error");
  const UNDO_KEY = "dfew-undo";  // clip ids voted in this tab, newest last
  let clipId = Number(form.dataset.clip);
  const inPlace = form.dataset.returnTo === "next" &&
    document.getElementById("current-line").hidden && window.fetch;
  let next = null;        // {id, video, page} of the clip after this one
  let nextVideo = null;   // its <video>, loading
  let sent = false;

  // Touch devices: "tap", not "press 1-7".
  if (window.matchMedia && window.matchMedia("(pointer: coarse)").matches) {
    document.querySelector(".keys-hint").hidden = true;
    document.querySelector(".tap-hint").hidden = false;
  }

  function undoStack() {
    try { return JSON.parse(sessionStorage.getItem(UNDO_KEY) || "[]"); } catch (e) { return []; }
  }
  function remember(id) {
    const stack = undoStack().filter(function (c) { return c !== id; });
    stack.push(id);
    try { sessionStorage.setItem(UNDO_KEY, JSON.stringify(stack.slice(-50))); } catch (e) {}
  }
  function undo() {
    const stack = undoStack();
    const previous = stack.pop();
    if (previous === undefined) return;
    try { sessionStorage.setItem(UNDO_KEY, JSON.stringify(stack)); } catch (e) {}
    window.location.assign("/annotate/clip/" + previous + "?undo=1");
  }

  function play(element) {
    // Browsers that refuse autoplay with sound get it muted, and a visible Unmute button.
    element.play().catch(function () {
      element.muted = true;
      unmute.hidden = false;
      element.play().catch(function () {});
    });
  }
  function replay() {
    video.currentTime = 0;
    video.play().catch(function () {});
  }
  document.getElementById("replay").addEventListener("click", replay);
  unmute.addEventListener("click", function () {
    video.muted = false;
    unmute.hidden = true;
    video.play().catch(function () {});
  });
  play(video);

  function progress(done, total) {
    document.getElementById("progress-done").textContent = done;
    document.getElementById("progress-total").textContent = total;
    const bar = document.getElementById("progress-bar");
    bar.max = total || 1;
    bar.value = done;
  }

  function prefetch(upcoming) {
    const candidate = upcoming.filter(function (c) { return c.id !== clipId; })[0] || null;
    if (next && candidate && next.id === candidate.id) return;
    if (nextVideo) nextVideo.remove();
    next = candidate;
    nextVideo = null;
    if (!next) return;
    nextVideo = document.createElement("video");
    nextVideo.src = next.video;
    nextVideo.preload = "auto";
    nextVideo.controls = true;
    nextVideo.playsInline = true;
    nextVideo.muted = video.muted;
    nextVideo.hidden = true;
    nextVideo.dataset.clip = String(next.id);
    nextVideo.setAttribute("aria-label", "Clip " + next.id);
    nextVideo.load();
    player.insertBefore(nextVideo, video.nextSibling);
  }

  function showError(message, id) {
    errorBox.textContent = "Your vote on clip " + id + " was not saved: " + message + " ";
    const link = document.createElement("a");
    link.href = "/annotate/clip/" + id;
    link.textContent = "Vote on clip " + id + " again";
    errorBox.appendChild(link);
    errorBox.hidden = false;
  }

  function retarget(id) {
    form.action = "/annotate/clip/" + id + "/vote";
    form.dataset.clip = String(id);
    document.getElementById("problem-form").action = "/annotate/clip/" + id + "/problem";
    document.getElementById("clip-title").textContent = "Clip " + id;
    document.title = "Clip " + id + " · dfew-build";
  }

  // Swap the prefetched clip in: no page load, the vote goes out in the background.
  function swap() {
    const old = video;
    old.pause();
    video = nextVideo;
    video.id = "clip-video";
    old.remove();
    video.hidden = false;
    clipId = next.id;
    next = null;
    nextVideo = null;
    retarget(clipId);
    history.pushState({clip: clipId}, "", "/annotate/clip/" + clipId);
    play(video);
  }

  function vote(button) {
    const votedId = clipId;
    const body = new FormData(form);
    body.set("emotion", button.value);
    remember(votedId);
    const done = Number(document.getElementById("progress-done").textContent) + 1;
    const total = Number(document.getElementById("progress-total").textContent);
    const swapped = next !== null;
    if (swapped) { swap(); progress(done, total); } else { form.classList.add("sending"); }
    fetch("/annotate/clip/" + votedId + "/vote", {
      method: "POST", body: body, credentials: "same-origin",
      headers: {"Accept": "application/json"}
    }).then(function (response) {
      return response.json().catch(function () { return {}; }).then(function (data) {
        if (!response.ok) throw new Error(data.error || ("HTTP " + response.status));
        return data;
      });
    }).then(function (data) {
      if (!swapped) {
        window.location.assign("/annotate");  // nothing prefetched, or the queue is done
        return;
      }
      progress(data.done, data.total);
      prefetch(data.upcoming);
    }).catch(function (error) {
      form.classList.remove("sending");
      showError(error.message, votedId);
    });
  }

  if (inPlace) {
    fetch("/annotate/upcoming.json", {credentials: "same-origin",
                                      headers: {"Accept": "application/json"}})
      .then(function (response) { return response.ok ? response.json() : null; })
      .then(function (data) { if (data) prefetch(data.upcoming); })
      .catch(function () {});
    window.addEventListener("popstate", function () { window.location.reload(); });
  }

  // The second click of a double click would vote on the clip just swapped in.
  form.querySelectorAll("button.emotion").forEach(function (button) {
    button.addEventListener("click", function (event) {
      if (event.detail > 1) event.preventDefault();
    });
  });

  form.addEventListener("submit", function (event) {
    if (sent && !inPlace) { event.preventDefault(); return; }  // a double click is one vote
    if (inPlace) {
      event.preventDefault();
      const button = event.submitter;
      if (!button || !button.value) return;
      if (!next && form.classList.contains("sending")) return;  // one vote per clip
      vote(button);
      return;
    }
    remember(clipId);
    sent = true;
    form.classList.add("sending");
  });

  document.addEventListener("keydown", function (event) {
    if (event.ctrlKey || event.metaKey || event.altKey || event.repeat) return;
    const target = event.target;
    if (target && (target.tagName === "INPUT" || target.tagName === "TEXTAREA" ||
                   target.tagName === "SELECT")) return;
    if (event.key >= "1" && event.key <= "7") {
      const button = form.querySelector('button[data-key="' + event.key + '"]');
      if (button) { event.preventDefault(); form.requestSubmit(button); }
    } else if (event.key === "r" || event.key === "R" || event.key === " ") {
      event.preventDefault();
      replay();
    } else if (event.key === "u" || event.key === "U" || event.key === "Backspace") {
      event.preventDefault();
      undo();
    }
  });
})();
