(() => {
  const button = document.getElementById("copy");
  const code = document.getElementById("code");
  const status = document.getElementById("status");
  // Emptied first so that a second click is announced again.
  const say = (done) => {
    status.textContent = "";
    setTimeout(() => (status.textContent = button.dataset[done ? "done" : "fail"]), 50);
  };
  // Older browsers and non-secure contexts: select the code and ask for a copy.
  const fallback = () => {
    const range = document.createRange();
    range.selectNodeContents(code);
    const selection = getSelection();
    selection.removeAllRanges();
    selection.addRange(range);
    let done = false;
    try {
      done = document.execCommand("copy");
    } catch (e) {}
    say(done);
  };
  button.hidden = false;
  button.onclick = () => {
    const clipboard = navigator.clipboard;
    if (clipboard && clipboard.writeText) {
      clipboard.writeText(code.textContent).then(() => say(true), fallback);
    } else {
      fallback();
    }
  };
})();
