// Runs before textual.js: the websocket is the one beside this page (behind a proxy too,
// over wss: when the page came over https:); the keyboard goes to the terminal once it draws;
// and the sentence the server closes it with is shown to the person, as text.
(() => {
  "use strict";
  const said = {
    1006: "The connection to therapy was lost; reload the page to go on.",
    1009: "The page sent more than therapy takes at once; reload the page.",
  };
  const Native = window.WebSocket;
  window.WebSocket = class extends Native {
    constructor(url, protocols) {
      super(url, protocols);
      this.addEventListener(
        "message",
        () => document.querySelector(".xterm-helper-textarea")?.focus(),
        { once: true },
      );
      this.addEventListener("close", (event) => {
        const sentence = event.reason || said[event.code];
        if (sentence) {
          document.getElementById("farewell").textContent = sentence;
        }
      });
    }
  };
  document.addEventListener("DOMContentLoaded", () => {
    const address = new URL("ws", window.location.href);
    address.protocol = address.protocol === "https:" ? "wss:" : "ws:";
    address.search = "";
    address.hash = "";
    document.getElementById("terminal").dataset.sessionWebsocketUrl = address.href;
    document.getElementById("again").addEventListener("click", () => {
      window.location.reload();
    });
  });
})();
