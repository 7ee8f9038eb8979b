// A 503 answer to a form POST (the database was busy): post the same form again after the
// server's Retry-After, a few times, then leave it to the person.
(function () {
  "use strict";
  const form = document.getElementById("retry-form");
  if (!form) return;
  const status = document.getElementById("retry-status");
  const wait = Math.max(1, Number(form.dataset.retryAfter) || 2);
  const key = "dfew-retries:" + form.action;
  // Tries within the last minute (an older count is from an earlier busy spell).
  const saved = (sessionStorage.getItem(key) || "0:0").split(":");
  const tries = Date.now() - Number(saved[1]) < 60000 ? Number(saved[0]) : 0;
  if (tries >= 5) {
    sessionStorage.removeItem(key);
    if (status) status.textContent = "(the server is still busy: try again in a minute)";
    return;
  }
  let left = wait;
  const timer = setInterval(function () {
    left -= 1;
    if (status) status.textContent = "(trying again in " + Math.max(left, 0) + " s)";
    if (left <= 0) {
      clearInterval(timer);
      sessionStorage.setItem(key, (tries + 1) + ":" + Date.now());
      form.submit();
    }
  }, 1000);
  form.addEventListener("submit", function () { clearInterval(timer); });
})();
