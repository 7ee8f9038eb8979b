// Annotator page: keys 1-7 vote, R or Space replays (static/player.js), U or Backspace goes
// back to the last vote. A vote is posted with fetch and the next clip, prefetched while
// this one plays (a second, hidden <video>), is swapped in at once (history.pushState);
// undo fetches the previous clip and the person's vote on it the same way, keeping the
// clip it leaves as the next one. Without JavaScript, or on a revision from the history
// page, the plain form posts and the server redirects.
(function () {
  "use strict";
  let video = document.getElementById("clip-video");
  const form = document.getElementById("vote-form");
  if (!video || !form || !window.dfewPlayer) return;
  const kit = window.dfewPlayer;
  const player = video.parentNode;
  const errorBox = document.getElementById("vote-error");
  const currentLine = document.getElementById("current-line");
  const UNDO_KEY = "dfew-undo";  // clip ids voted in this tab, newest last
  let clipId = Number(form.dataset.clip);
  let revising = !currentLine.hidden;  // the clip shown already has this person's vote
  const inPlace = form.dataset.returnTo === "next" && Boolean(window.fetch);
  let next = null;        // {id} of the clip after this one
  let nextVideo = null;   // its <video>, loading
  let sent = false;
  let undoing = false;
  let pending = Promise.resolve();  // the last vote's request: undo waits for it
  let shown = location.pathname + location.search;

  kit.touchHints();
  const unmute = kit.controls(function () { return video; });
  kit.play(video, unmute);

  function undoStack() {
    try { return JSON.parse(sessionStorage.getItem(UNDO_KEY) || "[]"); } catch (e) { return []; }
  }
  function remember(id) {
    const stack = undoStack().filter(function (c) { return c !== id; });
    stack.push(id);
    try { sessionStorage.setItem(UNDO_KEY, JSON.stringify(stack.slice(-50))); } catch (e) {}
  }
  function popUndo() {
    const stack = undoStack();
    const previous = stack.pop();
    try { sessionStorage.setItem(UNDO_KEY, JSON.stringify(stack)); } catch (e) {}
    return previous;
  }

  function progress(done, total) {
    document.getElementById("progress-done").textContent = done;
    document.getElementById("progress-total").textContent = total;
    const bar = document.getElementById("progress-bar");
    bar.max = total || 1;
    bar.value = done;
  }

  function makeVideo(id, src) {
    const element = document.createElement("video");
    element.src = src;
    element.preload = "auto";
    element.controls = true;
    element.playsInline = true;
    element.muted = video.muted;
    element.hidden = true;
    element.dataset.clip = String(id);
    element.setAttribute("aria-label", "Clip " + id);
    element.load();
    player.insertBefore(element, video.nextSibling);
    return element;
  }

  function prefetch(upcoming) {
    const candidate = upcoming.filter(function (c) { return c.id !== clipId; })[0] || null;
    if (next && candidate && next.id === candidate.id) return;
    if (nextVideo) nextVideo.remove();
    next = candidate ? {id: candidate.id} : null;
    nextVideo = candidate ? makeVideo(candidate.id, candidate.video) : null;
  }

  function showError(message, id) {
    errorBox.textContent = "Your vote on clip " + id + " was not saved: " + message + " ";
    const link = document.createElement("a");
    link.href = "/annotate/clip/" + id;
    link.textContent = "Vote on clip " + id + " again";
    errorBox.appendChild(link);
    errorBox.hidden = false;
  }

  // Point the page at clip `id`; `current`: the person's vote on it (code) or null.
  function showClip(id, current, currentName) {
    clipId = id;
    revising = current !== null;
    form.action = "/annotate/clip/" + id + "/vote";
    form.dataset.clip = String(id);
    document.getElementById("problem-form").action = "/annotate/clip/" + id + "/problem";
    document.getElementById("clip-title").textContent =
      (revising ? "Revise your vote on clip " : "Clip ") + id;
    document.title = "Clip " + id + " · dfew-build";
    form.querySelectorAll("button.emotion").forEach(function (button) {
      button.classList.toggle("chosen", Number(button.value) === current);
    });
    document.getElementById("current-vote").textContent = currentName || "";
    currentLine.hidden = !revising;
  }

  function navigated(url) {
    history.pushState({clip: clipId}, "", url);
    shown = url;
  }

  // Swap the prefetched clip in: no page load, the vote goes out in the background.
  function swap() {
    const old = video;
    old.pause();
    video = nextVideo;
    video.id = "clip-video";
    old.remove();
    video.hidden = false;
    const id = next.id;
    next = null;
    nextVideo = null;
    showClip(id, null, null);
    navigated("/annotate/clip/" + id);
    kit.play(video, unmute);
  }

  function vote(button) {
    const votedId = clipId;
    const body = new FormData(form);
    body.set("emotion", button.value);
    remember(votedId);
    // A revision (after undo) does not add to the count.
    const done = Number(document.getElementById("progress-done").textContent) +
      (revising ? 0 : 1);
    const total = Number(document.getElementById("progress-total").textContent);
    const swapped = next !== null;
    if (swapped) { swap(); progress(done, total); } else { form.classList.add("sending"); }
    pending = fetch("/annotate/clip/" + votedId + "/vote", {
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

  // Back to the previous clip with the vote shown. The clip left (not voted yet) becomes
  // the next one, so the revision goes on to it as a vote would.
  function showPrevious(data) {
    const old = video;
    old.pause();
    if (!revising) {
      if (nextVideo) nextVideo.remove();
      old.currentTime = 0;
      old.hidden = true;
      old.removeAttribute("id");
      next = {id: clipId};
      nextVideo = old;
    } else {
      old.remove();
    }
    video = makeVideo(data.clip, data.video);
    video.id = "clip-video";
    player.insertBefore(video, player.firstChild);
    video.hidden = false;
    showClip(data.clip, data.current, data.current_name);
    progress(data.done, data.total);
    errorBox.hidden = true;
    navigated("/annotate/clip/" + data.clip + "?undo=1");
    kit.play(video, unmute);
  }

  function undo() {
    if (undoing) return;
    if (!inPlace) {  // the history page's revision: the page of the last vote
      const previous = popUndo();
      if (previous !== undefined) window.location.assign("/annotate/clip/" + previous + "?undo=1");
      return;
    }
    undoing = true;
    pending.then(function () {
      const previous = popUndo();
      if (previous === undefined) { undoing = false; return; }
      const url = "/annotate/clip/" + previous + "?undo=1";
      return fetch("/annotate/clip/" + previous, {
        credentials: "same-origin", headers: {"Accept": "application/json"}
      }).then(function (response) {
        const json = (response.headers.get("content-type") || "").indexOf("json") >= 0;
        if (!json) { window.location.assign(url); return; }  // e.g. logged out: the page says why
        return response.json().then(function (data) {
          if (!response.ok) { showError(data.error || ("HTTP " + response.status), previous); return; }
          showPrevious(data);
        });
      }).catch(function () { window.location.assign(url); });
    }).then(function () { undoing = false; }, function () { undoing = false; });
  }

  if (inPlace) {
    fetch("/annotate/upcoming.json", {credentials: "same-origin",
                                      headers: {"Accept": "application/json"}})
      .then(function (response) { return response.ok ? response.json() : null; })
      .then(function (data) { if (data) prefetch(data.upcoming); })
      .catch(function () {});
    // Back/Forward over swapped-in clips: load that page (a #fragment, as the skip link's,
    // is not a new clip).
    window.addEventListener("popstate", function () {
      if (location.pathname + location.search !== shown) window.location.reload();
    });
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
      if (!button || !button.value || undoing) return;
      if (!next && form.classList.contains("sending")) return;  // one vote per clip
      vote(button);
      return;
    }
    remember(clipId);
    sent = true;
    form.classList.add("sending");
  });

  kit.keys(form, function () { return video; }, function (event) {
    if (event.key === "u" || event.key === "U" || event.key === "Backspace") {
      event.preventDefault();
      undo();
    }
  });
})();
