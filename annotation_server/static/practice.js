// Practice page: keys 1-7 vote, R or Space replays (static/player.js). The vote is the
// plain form: the server answers with the next practice page, which shows the feedback.
(function () {
  "use strict";
  const video = document.getElementById("clip-video");
  const form = document.getElementById("practice-form");
  if (!video || !form || !window.dfewPlayer) return;
  const player = window.dfewPlayer;
  let sent = false;
  player.touchHints();
  const unmute = player.controls(function () { return video; });
  player.play(video, unmute);
  player.keys(form, function () { return video; });
  form.addEventListener("submit", function (event) {
    if (sent) { event.preventDefault(); return; }  // a double press is one practice vote
    sent = true;
    form.classList.add("sending");
  });
})();
