// Annotator page: keys 1-7 vote, R or Space replays, one submission per page.
(function () {
  "use strict";
  const video = document.getElementById("clip-video");
  const form = document.getElementById("vote-form");
  if (!video || !form) return;

  function replay() {
    video.currentTime = 0;
    video.play().catch(function () {});
  }
  document.getElementById("replay").addEventListener("click", replay);

  // Play at once; browsers that refuse autoplay with sound get it muted.
  video.play().catch(function () {
    video.muted = true;
    video.play().catch(function () {});
  });

  let sent = false;
  form.addEventListener("submit", function (event) {
    if (sent) { event.preventDefault(); return; }  // a double click sends one vote
    sent = true;
    form.classList.add("sending");
  });

  document.addEventListener("keydown", function (event) {
    if (event.ctrlKey || event.metaKey || event.altKey) return;
    const target = event.target;
    if (target && (target.tagName === "INPUT" || target.tagName === "TEXTAREA" ||
                   target.tagName === "SELECT")) return;
    if (event.key >= "1" && event.key <= "7") {
      const button = form.querySelector('button[data-key="' + event.key + '"]');
      if (button) { event.preventDefault(); form.requestSubmit(button); }
    } else if (event.key === "r" || event.key === "R" || event.key === " ") {
      event.preventDefault();
      replay();
    }
  });
})();
