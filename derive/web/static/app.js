// derive serve, the exercise page: KaTeX for every formula, a live preview of each answer as it is
// typed (POST /api/validate), then the verdicts (POST /api/check). Nothing is loaded from elsewhere.
"use strict";

(function () {
  function tex(element, source, display) {
    try {
      katex.render(source, element, { displayMode: display, throwOnError: false });
    } catch (e) {
      element.textContent = source;
    }
  }

  function renderAll() {
    document.querySelectorAll(".tex").forEach(function (el) {
      tex(el, el.textContent, el.classList.contains("display"));
    });
  }

  function data(id) {
    var el = document.getElementById(id);
    return el ? JSON.parse(el.textContent) : null;
  }

  function post(config, path, body) {
    return fetch(path, {
      method: "POST",
      headers: { "Content-Type": "application/json", "Authorization": "Bearer " + config.token },
      body: JSON.stringify(body),
    }).then(function (response) {
      return response.json().then(function (json) { return { status: response.status, json: json }; });
    });
  }

  function format(template, args) {
    return template.replace(/%\((\w+)\)s/g, function (_, name) { return String(args[name]); });
  }

  function previewer(config, words, box) {
    var input = box.querySelector("input");
    var preview = box.querySelector(".preview");
    var timer = null;
    var asked = 0;
    var verdict = box.querySelector(".verdict");
    input.addEventListener("input", function () {
      clearTimeout(timer);
      preview.classList.add("stale"); // what it shows was read from an earlier text
      verdict.classList.add("stale"); // and the verdict was on an earlier answer, until the next check
      timer = setTimeout(function () {
        var mine = ++asked;
        var text = input.value;
        if (!text.trim()) { preview.textContent = ""; preview.className = "preview"; return; }
        post(config, "/api/validate", { assignment: config.assignment, key: box.dataset.key, answer: text, lang: config.lang })
          .then(function (r) {
            if (mine !== asked || input.value !== text) return; // a newer keystroke has (or will have) its own
            preview.textContent = "";
            if (r.status === 200 && r.json.ok) {
              preview.className = "preview ok";
              var label = document.createElement("span");
              label.textContent = words.reads_as + " ";
              var formula = document.createElement("span");
              tex(formula, r.json.latex, false);
              preview.append(label, formula);
            } else {
              var message = r.status === 200 ? r.json.message || "" : failure(words, r.status, words.preview_offline);
              var said = verdict.querySelector(".feedback");
              var current = verdict.classList.contains("invalid") && !verdict.classList.contains("stale");
              preview.className = "preview bad";
              // the verdict under it says this very thing already (the page reopened on a checked answer)
              preview.textContent = current && said && said.textContent === message ? "" : message;
            }
          })
          .catch(function () {
            if (mine !== asked || input.value !== text) return;
            preview.className = "preview bad"; // never leave the reading of an older text on show
            preview.textContent = words.preview_offline;
          });
      }, 250);
    });
  }

  // What a failed request means to a student, in the page's language (the API's own error texts are English).
  function failure(words, status, otherwise) {
    if (status === 401) return words.token;
    if (status === 413) return words.too_long;
    if (status === 429) return words.too_many;
    if (status >= 500) return words.server_error;
    return otherwise;
  }

  // "correct: Correct: …" says the word twice: the feedback keeps its sentence, without the verdict's word.
  function withoutWord(word, feedback) {
    var head = feedback.slice(0, word.length + 1).toLocaleLowerCase();
    return head === (word + ":").toLocaleLowerCase() ? feedback.slice(word.length + 1).trim() : feedback;
  }

  function showVerdicts(config, words, result) {
    result.answers.forEach(function (a) {
      var box = document.querySelector('.answer[data-key="' + a.key + '"]');
      if (!box) return;
      var verdict = box.querySelector(".verdict");
      var preview = box.querySelector(".preview");
      if (a.verdict === "invalid" && preview.textContent === a.feedback) { // said once, by the verdict
        preview.textContent = "";
        preview.className = "preview";
      }
      verdict.className = "verdict " + a.verdict;
      verdict.textContent = "";
      var word = document.createElement("span");
      word.className = "word";
      var name = config.words[a.verdict] || a.verdict;
      var said = a.verdict === "missing" ? "" : withoutWord(name, a.feedback || ""); // "no answer was given" says the word again
      word.textContent = name + (said ? ": " : "");
      var feedback = document.createElement("span");
      feedback.className = "feedback";
      feedback.textContent = said;
      verdict.append(word, feedback);
      if (a.expected_latex) {
        var expected = document.createElement("div");
        expected.textContent = words.expected + " ";
        var formula = document.createElement("span");
        tex(formula, a.expected_latex, false);
        expected.append(formula);
        verdict.append(expected);
      }
    });
  }

  function submitter(config, words, form) {
    var status = document.getElementById("status");
    var button = form.querySelector("button");
    var busy = false;
    form.addEventListener("submit", function (event) {
      event.preventDefault();
      if (busy) return; // one check at a time; the button stays focusable (a disabled one drops the focus)
      var answers = {};
      form.querySelectorAll(".answer").forEach(function (box) {
        var value = box.querySelector("input").value;
        if (value.trim()) answers[box.dataset.key] = value;
      });
      busy = true;
      button.setAttribute("aria-disabled", "true");
      status.textContent = words.checking;
      post(config, "/api/check", { assignment: config.assignment, answers: answers, lang: config.lang })
        .then(function (r) {
          if (r.status !== 200) { status.textContent = failure(words, r.status, words.server_error); return; }
          showResult(config, words, r.json);
        })
        .catch(function () { status.textContent = words.network_error; })
        .then(function () { busy = false; button.removeAttribute("aria-disabled"); });
    });
  }

  function showResult(config, words, result) {
    document.getElementById("status").textContent = format(words.score, { score: result.score, total: result.total });
    showVerdicts(config, words, result);
  }

  // A page the browser kept whole for the back button (bfcache, even with no-store) shows what it showed then:
  // the list without the result just earned. Ask the server again.
  window.addEventListener("pageshow", function (event) {
    if (event.persisted) window.location.reload();
  });

  document.addEventListener("DOMContentLoaded", function () {
    renderAll();
    var config = data("config");
    var words = data("words");
    var form = document.getElementById("answers");
    if (!config || !form) return;
    form.querySelectorAll(".answer").forEach(function (box) {
      previewer(config, words, box);
      var input = box.querySelector("input");
      if (input.value) input.dispatchEvent(new Event("input")); // answers kept from the last submission
    });
    submitter(config, words, form);
    if (config.last) showResult(config, words, config.last); // a reload keeps what the last check said
  });
})();
