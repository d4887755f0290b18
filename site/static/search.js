// Client-side search over SEARCH_INDEX (search-index.js): an entry matches when every word
// of the query begins a word of its ID or title, case-insensitively ("gae", "DPO", "clip").
"use strict";

function words(text) {
  return text.toLowerCase().split(/[^\p{L}\p{N}]+/u).filter(Boolean);
}

function matches(query) {
  const wanted = words(query);
  if (wanted.length === 0) return [];
  const found = SEARCH_INDEX.filter((entry) => {
    const own = words(entry.id + " " + entry.title);
    return wanted.every((word) => own.some((candidate) => candidate.startsWith(word)));
  });
  // Entries whose ID holds the query come first: "gae" lists gae.* before rlhf.masked-gae.
  const inId = (entry) => wanted.every((word) => words(entry.id).some((w) => w.startsWith(word)));
  return found.sort((a, b) => inId(b) - inId(a) || a.id.localeCompare(b.id));
}

function show(query) {
  const list = document.getElementById("results");
  list.replaceChildren();
  const found = matches(query);
  for (const entry of found) {
    const item = document.createElement("li");
    item.className = "status-" + entry.status;
    const link = document.createElement("a");
    link.href = entry.url;
    link.innerHTML = "<code></code> ";
    link.firstChild.textContent = entry.id;
    const title = document.createElement("span");
    title.innerHTML = entry.title_html;  // built by rlspec from the entry: escaped text and MathML
    item.append(link, title);
    list.append(item);
  }
  document.getElementById("count").textContent =
    query.trim() ? `${found.length} ${found.length === 1 ? "entry" : "entries"}` : "";
}

const input = document.getElementById("query");
input.value = new URLSearchParams(window.location.search).get("q") || "";
input.addEventListener("input", () => show(input.value));
show(input.value);
