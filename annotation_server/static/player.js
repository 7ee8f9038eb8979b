// Shared by the annotator and practice pages: autoplay that falls back to muted with a
// visible Unmute button, replay, and the keys (1-7 press that emotion's button, R or Space
// replays; any other key goes to the page's own handler).
window.dfewPlayer = (function () {
  "use strict";

  // Browsers that refuse autoplay with sound get it muted, and a visible Unmute button.
  function play(video, unmute) {
    video.play().catch(function () {
      video.muted = true;
      if (unmute) unmute.hidden = false;
      video.play().catch(function () {});
    });
  }

  function replay(video) {
    video.currentTime = 0;
    video.play().catch(function () {});
  }

  // getVideo: the <video> now shown (the annotator page swaps it).
  function controls(getVideo) {
    const unmute = document.getElementById("unmute");
    document.getElementById("replay").addEventListener("click", function () {
      replay(getVideo());
    });
    unmute.addEventListener("click", function () {
      const video = getVideo();
      video.muted = false;
      unmute.hidden = true;
      video.play().catch(function () {});
    });
    return unmute;
  }

  function keys(form, getVideo, other) {
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
        replay(getVideo());
      } else if (other) {
        other(event);
      }
    });
  }

  // Touch devices: "tap", not "press 1-7".
  function touchHints() {
    if (!(window.matchMedia && window.matchMedia("(pointer: coarse)").matches)) return;
    document.querySelectorAll(".keys-hint").forEach(function (e) { e.hidden = true; });
    document.querySelectorAll(".tap-hint").forEach(function (e) { e.hidden = false; });
  }

  return {play: play, replay: replay, controls: controls, keys: keys,
          touchHints: touchHints};
})();
