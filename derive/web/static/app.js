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
    input.addEventListener("input", function () {
      clearTimeout(timer);
      timer = setTimeout(function () {
        var mine = ++asked;
        var text = input.value;
        if (!text.trim()) { preview.textContent = ""; preview.className = "preview"; return; }
        post(config, "/api/validate", { assignment: config.assignment, key: box.dataset.key, answer: text, lang: config.lang })
          .then(function (r) {
            if (mine !== asked) return; // a newer keystroke has its own request
            preview.textContent = "";
            if (r.status === 200 && r.json.ok) {
              preview.className = "preview ok";
              var label = document.createElement("span");
              label.textContent = words.reads_as + " ";
              var formula = document.createElement("span");
              tex(formula, r.json.latex, false);
              preview.append(label, formula);
            } else {
              preview.className = "preview bad";
              preview.textContent = r.json.message || r.json.error || "";
            }
          })
          .catch(function () {});
      }, 250);
    });
  }

  function showVerdicts(config, words, result) {
    result.answers.forEach(function (a) {
      var box = document.querySelector('.answer[data-key="' + a.key + '"]');
      if (!box) return;
      var verdict = box.querySelector(".verdict");
      verdict.className = "verdict " + a.verdict;
      verdict.textContent = "";
      var word = document.createElement("span");
      word.className = "word";
      var said = a.verdict === "missing" ? "" : a.feedback || ""; // "no answer was given" says the word again
      word.textContent = (config.words[a.verdict] || a.verdict) + (said ? ": " : "");
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
    form.addEventListener("submit", function (event) {
      event.preventDefault();
      var answers = {};
      form.querySelectorAll(".answer").forEach(function (box) {
        var value = box.querySelector("input").value;
        if (value.trim()) answers[box.dataset.key] = value;
      });
      button.disabled = true;
      status.textContent = words.checking;
      post(config, "/api/check", { assignment: config.assignment, answers: answers, lang: config.lang })
        .then(function (r) {
          if (r.status !== 200) { status.textContent = r.json.error || String(r.status); return; }
          status.textContent = format(words.score, { score: r.json.score, total: r.json.total });
          showVerdicts(config, words, r.json);
        })
        .catch(function () { status.textContent = words.network_error; })
        .then(function () { button.disabled = false; });
    });
  }

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
  });
})();
