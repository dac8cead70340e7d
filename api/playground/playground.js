// The siftrag playground: plain DOM code, no framework, no external assets. Every value from the server is put
// on the page with textContent, never as HTML.
"use strict";

const OPTIONS = JSON.parse(document.getElementById("options").textContent);
const $ = (selector, root = document) => root.querySelector(selector);
const KEY_STORE = "siftrag-api-key";

function element(tag, text, className) {
  const node = document.createElement(tag);
  if (text !== undefined && text !== null) node.textContent = String(text);
  if (className) node.className = className;
  return node;
}

function fillSelect(select, values, chosen) {
  select.replaceChildren(...values.map((value) => {
    const option = element("option", value);
    option.value = value;
    option.selected = value === chosen;
    return option;
  }));
}

function headers() {
  const result = {"Content-Type": "application/json"};
  const key = $("#api-key").value.trim();
  if (key) result["X-API-Key"] = key;
  return result;
}

function setStatus(text, isError = false) {
  const status = $("#status");
  status.textContent = text;
  status.classList.toggle("error", isError);
}

async function errorText(response) {
  try {
    const body = await response.json();
    return typeof body.detail === "string" ? body.detail : JSON.stringify(body.detail);
  } catch {
    return `HTTP ${response.status}`;
  }
}

async function postJson(path, body) {
  const response = await fetch(path, {method: "POST", headers: headers(), body: JSON.stringify(body)});
  if (!response.ok) throw new Error(await errorText(response));
  return response.json();
}

async function loadCollections() {
  const response = await fetch("/v1/collections", {headers: headers()});
  if (!response.ok) {
    setStatus(await errorText(response), true);
    return;
  }
  const names = (await response.json()).collections;
  const chosen = $("#collection").value;  // a reload (a key typed in) keeps the user's choice when it is still there
  fillSelect($("#collection"), names, names.includes(chosen) ? chosen : names[0]);
  setStatus(names.length ? "" : "No collections yet: create one with `siftrag collections create`.", !names.length);
}

function numberOf(selector) {
  return Number.parseInt($(selector).value, 10);
}

function costLine(result) {
  const parts = Object.entries(result.timings_ms).map(([stage, ms]) => `${stage} ${ms.toFixed(1)} ms`);
  const meta = result.rerank && result.rerank.meta[0];
  if (meta && meta.forward_passes !== undefined) {
    parts.push(`LLM: ${meta.forward_passes} forward passes, ${meta.prompt_tokens} prompt tokens, ` +
               `${meta.generated_tokens} generated`);
  }
  if (result.rerank && result.rerank.partial) parts.push("partial: deadline reached, first-stage order");
  return parts.join(" · ");
}

function sourceLabel(source) {
  // "report.pdf, page 2" for a chunk of an uploaded file; null for a document ingested as JSON.
  if (!source || !source.name) return null;
  return source.page ? `${source.name}, page ${source.page}` : source.name;
}

function hitItem(document, otherIds) {
  const item = element("li", null, otherIds.has(document.id) ? "hit shared" : "hit");
  item.dataset.id = document.id;
  const cited = sourceLabel({name: document.meta.source_name, page: document.meta.page});
  const title = element("span", cited || document.meta.title || document.id, "title");
  const scores = element("span", `score ${document.score === null ? "–" : document.score.toFixed(4)}`, "score");
  item.append(title, scores);
  if (document.first_stage_rank !== undefined && document.first_stage_rank !== null) {
    const first = document.first_stage_score === null ? "–" : document.first_stage_score.toFixed(4);
    item.append(element("span", `first stage #${document.first_stage_rank}, ${first}`, "first-stage"));
  }
  item.append(element("p", document.content.slice(0, 240), "snippet"));
  return item;
}

function pipelineName(column) {
  const retriever = $(".retriever", column).value;
  const rerank = $(".rerank", column).value;
  return rerank === "none" ? retriever : `${retriever}>${rerank}`;
}

async function searchColumn(column, query) {
  const body = {collection: $("#collection").value, query, retriever: $(".retriever", column).value,
                top_k: numberOf("#top-k")};
  const rerank = $(".rerank", column).value;
  if (rerank !== "none") Object.assign(body, {rerank, candidates: numberOf("#candidates")});
  const began = performance.now();
  const result = await postJson("/v1/search", body);
  return {result, wallMs: performance.now() - began};
}

async function search(event) {
  event.preventDefault();
  const query = $("#query").value;
  const columns = [...document.querySelectorAll(".column")];
  columns.forEach((column) => {
    $(".hits", column).replaceChildren();
    $(".summary", column).textContent = `${pipelineName(column)}: searching…`;
  });
  setStatus("");
  const outcomes = await Promise.allSettled(columns.map((column) => searchColumn(column, query)));
  const ids = outcomes.map((o) => new Set(o.status === "fulfilled" ? o.value.result.results[0].documents.map((d) => d.id) : []));
  outcomes.forEach((outcome, side) => {
    const column = columns[side];
    if (outcome.status === "rejected") {
      $(".summary", column).textContent = `${pipelineName(column)}: ${outcome.reason.message}`;
      $(".summary", column).classList.add("error");
      return;
    }
    const {result, wallMs} = outcome.value;
    const documents = result.results[0].documents;
    const other = ids[1 - side];
    const shared = documents.filter((d) => other.has(d.id)).length;
    $(".summary", column).classList.remove("error");
    $(".summary", column).textContent = `${pipelineName(column)}: ${documents.length} hits, ${shared} also on the ` +
      `other side · ${costLine(result)} · ${wallMs.toFixed(0)} ms in the browser`;
    $(".hits", column).replaceChildren(...documents.map((d) => hitItem(d, other)));
  });
}

function parseEvents(buffer) {
  // Server-sent events are separated by a blank line; returns the complete ones and the unfinished rest.
  const blocks = buffer.split("\n\n");
  const rest = blocks.pop();
  const events = blocks.map((block) => {
    const lines = block.split("\n");
    const name = (lines.find((l) => l.startsWith("event: ")) || "event: message").slice(7);
    const data = lines.filter((l) => l.startsWith("data: ")).map((l) => l.slice(6)).join("\n");
    return {name, data: data ? JSON.parse(data) : {}};
  });
  return {events, rest};
}

function showPassages(passages) {
  $("#passages").replaceChildren(...passages.map((passage) => {
    const item = element("li", null, "passage");
    item.id = `passage-${passage.n}`;
    item.value = passage.n;
    item.append(element("span", sourceLabel(passage.source) || passage.title || passage.id, "title"),
                element("span", passage.id, "doc-id"),
                element("p", passage.content, "snippet"));
    return item;
  }));
}

function showCitations(citations) {
  $("#citations").replaceChildren(...citations.map((citation) => {
    const item = element("li");
    const link = element("a", `[${citation.n}] ${sourceLabel(citation.source) || citation.title || citation.id}`,
                         "citation");
    link.href = `#passage-${citation.n}`;
    link.dataset.id = citation.id;
    item.append(link);
    return item;
  }));
  if (!citations.length) $("#citations").append(element("li", "none", "muted"));
}

async function answer(event) {
  event.preventDefault();
  const output = $("#answer-output");
  output.textContent = "";
  $("#answer-final").textContent = "answering…";
  $("#citations").replaceChildren();
  $("#passages").replaceChildren();
  const body = {collection: $("#collection").value, question: $("#question").value,
                retriever: $("#answer-retriever").value, top_k: numberOf("#answer-top-k"),
                answer_format: $("#answer-format").value};
  if ($("#answer-compressor").value !== "none") body.compressor = $("#answer-compressor").value;
  const response = await fetch("/v1/answer/stream", {method: "POST", headers: headers(), body: JSON.stringify(body)});
  if (!response.ok) {
    $("#answer-final").textContent = await errorText(response);
    $("#answer-final").classList.add("error");
    return;
  }
  $("#answer-final").classList.remove("error");
  const reader = response.body.getReader();
  const decoder = new TextDecoder();
  let buffer = "";
  for (;;) {
    const {value, done} = await reader.read();
    if (done) break;
    buffer += decoder.decode(value, {stream: true});
    const parsed = parseEvents(buffer);
    buffer = parsed.rest;
    for (const {name, data} of parsed.events) {
      if (name === "context") showPassages(data.passages || []);
      else if (name === "token") output.textContent += data.text;
      else if (name === "done") {
        $("#answer-final").textContent = `Answer: ${data.answer} (finish: ${data.finish_reason}, ` +
          `${data.tokens.generated} tokens, ${data.timings_ms.total.toFixed(0)} ms)`;
        showCitations(data.citations);
      } else if (name === "error") {
        $("#answer-final").textContent = data.detail;
        $("#answer-final").classList.add("error");
      }
    }
  }
}

function outcomeItem(file) {
  if (file.status === "failed") return element("li", file.error, "error");
  return element("li", `${file.name}: ${file.status}, ${file.chunks} chunks`);
}

async function finishedJob(id) {
  for (;;) {
    const response = await fetch(`/v1/jobs/${encodeURIComponent(id)}`, {headers: headers()});
    if (!response.ok) throw new Error(await errorText(response));
    const job = await response.json();
    if (["succeeded", "failed", "cancelled"].includes(job.state)) return job;
    $("#upload-status").textContent = `ingesting: ${job.state}`;
    await new Promise((resolve) => setTimeout(resolve, 300));
  }
}

async function upload(event) {
  // Multipart to POST /v1/collections/{name}/files; the browser sends this page's Origin (the cross-site guard's
  // proof) and sets the multipart Content-Type itself.
  event.preventDefault();
  const form = new FormData();
  for (const file of $("#upload-files").files) form.append("files", file, file.name);
  const keyHeaders = {};
  const key = $("#api-key").value.trim();
  if (key) keyHeaders["X-API-Key"] = key;
  $("#upload-outcomes").replaceChildren();
  $("#upload-status").textContent = "converting…";
  const collection = encodeURIComponent($("#collection").value);
  const response = await fetch(`/v1/collections/${collection}/files`, {method: "POST", headers: keyHeaders, body: form});
  if (!response.ok) throw new Error(await errorText(response));
  const job = await finishedJob((await response.json()).id);
  if (job.state !== "succeeded") throw new Error(job.error || `ingest ${job.state}`);
  const counts = ["added", "replaced", "unchanged", "failed"].map((s) => `${job.result[s]} ${s}`).join(", ");
  $("#upload-status").textContent = `${counts}; build an index to search the new chunks`;
  $("#upload-status").classList.remove("error");
  $("#upload-outcomes").replaceChildren(...job.result.files.map(outcomeItem));
}

function setUp() {
  const keyInput = $("#api-key");
  keyInput.value = sessionStorage.getItem(KEY_STORE) || "";
  keyInput.addEventListener("change", () => {
    sessionStorage.setItem(KEY_STORE, keyInput.value.trim());
    loadCollections();
  });
  for (const [retriever, rerank] of [["bm25", "none"], ["bm25", "first"]]) {  // the two sides, by default
    const column = $("#column-template").content.firstElementChild.cloneNode(true);
    fillSelect($(".retriever", column), OPTIONS.retrievers, retriever);
    fillSelect($(".rerank", column), ["none", ...OPTIONS.rerankers], rerank);
    $(".columns").append(column);
  }
  fillSelect($("#answer-retriever"), OPTIONS.retrievers, "bm25");
  fillSelect($("#answer-compressor"), ["none", ...OPTIONS.compressors], "none");
  fillSelect($("#answer-format"), OPTIONS.answer_formats, "short");
  $("#search-form").addEventListener("submit", (e) => search(e).catch((error) => setStatus(error.message, true)));
  $("#answer-form").addEventListener("submit", (e) => answer(e).catch((error) => {
    $("#answer-final").textContent = error.message;
    $("#answer-final").classList.add("error");
  }));
  $("#upload-form").addEventListener("submit", (e) => upload(e).catch((error) => {
    $("#upload-status").textContent = error.message;
    $("#upload-status").classList.add("error");
  }));
  loadCollections().catch((error) => setStatus(error.message, true));
}

setUp();
